variable "project_id" {
  type        = string
  description = "Google Cloud project of the service accounts."
}

variable "name_prefix" {
  type        = string
  description = "Prefix of the Google service account IDs (<prefix>-<workload>, at most 30 characters in all)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,20}$", var.name_prefix))
    error_message = "name_prefix: 3 to 21 lowercase letters, digits or '-', starting with a letter."
  }
}

variable "workload_pool" {
  type        = string
  description = "Workload Identity pool of the GKE cluster (<project>.svc.id.goog)."
}

variable "service_accounts" {
  type = map(object({
    namespace = string
    name      = string
  }))
  description = "Workload (airflow, trainer, serving, mlflow) -> the Kubernetes service account that acts as its Google service account."

  validation {
    condition     = length(setsubtract(["airflow", "trainer", "serving", "mlflow"], keys(var.service_accounts))) == 0
    error_message = "service_accounts names the airflow, trainer, serving and mlflow workloads."
  }
}

variable "bucket_names" {
  type        = map(string)
  description = "Purpose (lake, artifacts, inference_logs) -> bucket name."

  validation {
    condition     = length(setsubtract(["lake", "artifacts", "inference_logs"], keys(var.bucket_names))) == 0
    error_message = "bucket_names names the lake, artifacts and inference_logs buckets."
  }
}
