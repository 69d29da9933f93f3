output "lake_bucket" {
  description = "Name of the data-lake bucket (raw, validated, features, drift reports)."
  value       = google_storage_bucket.this["lake"].name
}

output "artifacts_bucket" {
  description = "Name of the MLflow artifact bucket (runs and registered model versions)."
  value       = google_storage_bucket.this["artifacts"].name
}

output "inference_log_bucket" {
  description = "Name of the bucket the model servers write their inference logs to."
  value       = google_storage_bucket.this["inference_logs"].name
}

output "bucket_names" {
  description = "Purpose (lake, artifacts, inference_logs) -> bucket name."
  value       = { for purpose, bucket in google_storage_bucket.this : purpose => bucket.name }
}

output "access_log_bucket" {
  description = "Name of the bucket that receives the access logs of the data buckets."
  value       = google_storage_bucket.access_logs.name
}

output "kms_key_id" {
  description = "ID of the Cloud KMS key that encrypts the buckets."
  value       = google_kms_crypto_key.storage.id
}
