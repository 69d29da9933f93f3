output "role_arns" {
  description = "Workload (airflow, trainer, serving, mlflow) -> IAM role ARN."
  value       = { for workload, role in aws_iam_role.this : workload => role.arn }
}

output "service_account_annotations" {
  description = "Workload -> the annotations its Kubernetes service account needs (eks.amazonaws.com/role-arn)."
  value       = { for workload, role in aws_iam_role.this : workload => { "eks.amazonaws.com/role-arn" = role.arn } }
}

output "bucket_access" {
  description = "Workload -> purpose -> r or rw: the access each role was given."
  value       = local.access
}
