output "service_account_emails" {
  description = "Workload (airflow, trainer, serving, mlflow) -> Google service account email."
  value       = { for workload, account in google_service_account.this : workload => account.email }
}

output "service_account_annotations" {
  description = "Workload -> the annotations its Kubernetes service account needs (iam.gke.io/gcp-service-account)."
  value       = { for workload, account in google_service_account.this : workload => { "iam.gke.io/gcp-service-account" = account.email } }
}

output "bucket_access" {
  description = "Workload -> purpose -> r or rw: the access each service account was given."
  value       = local.access
}
