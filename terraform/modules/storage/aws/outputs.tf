output "lake_bucket" {
  description = "Name of the data-lake bucket (raw, validated, features, drift reports)."
  value       = aws_s3_bucket.this["lake"].id
}

output "artifacts_bucket" {
  description = "Name of the MLflow artifact bucket (runs and registered model versions)."
  value       = aws_s3_bucket.this["artifacts"].id
}

output "inference_log_bucket" {
  description = "Name of the bucket the model servers write their inference logs to."
  value       = aws_s3_bucket.this["inference_logs"].id
}

output "bucket_arns" {
  description = "Purpose (lake, artifacts, inference_logs) -> bucket ARN."
  value       = { for purpose, bucket in aws_s3_bucket.this : purpose => bucket.arn }
}

output "access_log_bucket" {
  description = "Name of the bucket that receives the S3 server access logs of the data buckets."
  value       = aws_s3_bucket.access_logs.id
}

output "kms_key_arn" {
  description = "ARN of the KMS key that encrypts the data buckets; readers need kms:Decrypt, writers also kms:GenerateDataKey."
  value       = aws_kms_key.storage.arn
}
