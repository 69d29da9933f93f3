variable "name_prefix" {
  type        = string
  description = "Prefix of the IAM role names (<prefix>-<workload>)."
}

variable "oidc_provider_arn" {
  type        = string
  description = "ARN of the IAM OIDC provider of the EKS cluster."
}

variable "oidc_issuer" {
  type        = string
  description = "OIDC issuer of the EKS cluster without https:// (oidc.eks.<region>.amazonaws.com/id/<id>)."
}

variable "service_accounts" {
  type = map(object({
    namespace = string
    name      = string
  }))
  description = "Workload (airflow, trainer, serving, mlflow) -> the Kubernetes service account that may assume its role."

  validation {
    condition     = length(setsubtract(["airflow", "trainer", "serving", "mlflow"], keys(var.service_accounts))) == 0
    error_message = "service_accounts names the airflow, trainer, serving and mlflow workloads."
  }
}

variable "bucket_arns" {
  type        = map(string)
  description = "Purpose (lake, artifacts, inference_logs) -> bucket ARN."

  validation {
    condition     = length(setsubtract(["lake", "artifacts", "inference_logs"], keys(var.bucket_arns))) == 0
    error_message = "bucket_arns names the lake, artifacts and inference_logs buckets."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "ARN of the KMS key the buckets are encrypted with."
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource of the module."
  default     = {}
}
