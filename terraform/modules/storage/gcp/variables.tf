variable "project_id" {
  type        = string
  description = "Google Cloud project of the buckets and their key."
}

variable "location" {
  type        = string
  description = "Location of the buckets and of the KMS key ring (the cluster's region keeps traffic regional)."
}

variable "name_prefix" {
  type        = string
  description = "Prefix of the bucket names (<prefix>-lake, <prefix>-artifacts, <prefix>-inference-logs, <prefix>-access-logs); bucket names are global, so include the project or organisation."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,40}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix: 3 to 42 lowercase letters, digits or '-'."
  }
}

variable "force_destroy" {
  type        = bool
  description = "Let terraform destroy delete non-empty buckets. Keep false outside throwaway environments."
  default     = false
}

variable "nearline_after_days" {
  type        = number
  description = "Age in days after which objects of the lake and the inference log move to NEARLINE."
  default     = 30
}

variable "coldline_after_days" {
  type        = number
  description = "Age in days after which objects of the lake and the inference log move to COLDLINE."
  default     = 90
}

variable "artifacts_nearline_after_days" {
  type        = number
  description = "Age in days after which MLflow artifacts move to NEARLINE (models are read when served, so they stay out of colder tiers)."
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
  description = "Days the bucket access logs are kept."
  default     = 365
}

variable "labels" {
  type        = map(string)
  description = "Labels added to every bucket."
  default     = {}
}
