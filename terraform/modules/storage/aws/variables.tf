variable "name_prefix" {
  type        = string
  description = "Prefix of the bucket names (<prefix>-lake, <prefix>-artifacts, <prefix>-inference-logs, <prefix>-access-logs); bucket names are global, so include the account or organisation."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,40}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix: 3 to 42 lowercase letters, digits or '-'."
  }
}

variable "force_destroy" {
  type        = bool
  description = "Let terraform destroy delete non-empty buckets (all their objects and versions). Keep false outside throwaway environments."
  default     = false
}

variable "infrequent_access_after_days" {
  type        = number
  description = "Age in days after which objects of the lake and the inference log move to STANDARD_IA."
  default     = 30
}

variable "archive_after_days" {
  type        = number
  description = "Age in days after which objects of the lake and the inference log move to GLACIER_IR."
  default     = 90
}

variable "artifacts_infrequent_access_after_days" {
  type        = number
  description = "Age in days after which MLflow artifacts move to STANDARD_IA (models are read when served, so they stay out of archive tiers)."
  default     = 90
}

variable "inference_log_expiration_days" {
  type        = number
  description = "Age in days after which inference-log objects are deleted (drift checks read recent windows only)."
  default     = 400
}

variable "noncurrent_version_expiration_days" {
  type        = number
  description = "Days a replaced or deleted object version is kept before it is removed."
  default     = 90
}

variable "access_log_expiration_days" {
  type        = number
  description = "Days the S3 server access logs are kept."
  default     = 365
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource of the module."
  default     = {}
}
