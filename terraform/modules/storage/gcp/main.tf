data "google_storage_project_service_account" "this" {
  project = var.project_id
}

locals {
  labels = merge({ app = "tradewind" }, var.labels)
  # The three buckets the platform reads and writes; the keys are the purpose names the other
  # modules and the environment outputs use.
  buckets = {
    lake           = { name = "${var.name_prefix}-lake", tiered = true, expire_days = null }
    artifacts      = { name = "${var.name_prefix}-artifacts", tiered = false, expire_days = null }
    inference_logs = { name = "${var.name_prefix}-inference-logs", tiered = true, expire_days = var.inference_log_expiration_days }
  }
}

resource "google_kms_key_ring" "storage" {
  project  = var.project_id
  name     = "${var.name_prefix}-storage"
  location = var.location
}

resource "google_kms_crypto_key" "storage" {
  name            = "buckets"
  key_ring        = google_kms_key_ring.storage.id
  rotation_period = "7776000s"

  lifecycle {
    prevent_destroy = true
  }
}

# Cloud Storage encrypts with the key on behalf of every reader and writer.
resource "google_kms_crypto_key_iam_member" "storage_agent" {
  crypto_key_id = google_kms_crypto_key.storage.id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = "serviceAccount:${data.google_storage_project_service_account.this.email_address}"
}

resource "google_storage_bucket" "access_logs" {
  #checkov:skip=CKV_GCP_62:This bucket is the access-log target; logging it to itself would log its own log writes.
  project                     = var.project_id
  name                        = "${var.name_prefix}-access-logs"
  location                    = var.location
  force_destroy               = var.force_destroy
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  labels                      = local.labels

  versioning {
    enabled = true
  }

  encryption {
    default_kms_key_name = google_kms_crypto_key.storage.id
  }

  lifecycle_rule {
    condition {
      age = var.access_log_expiration_days
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_kms_crypto_key_iam_member.storage_agent]
}

resource "google_storage_bucket" "this" {
  for_each = local.buckets

  project                     = var.project_id
  name                        = each.value.name
  location                    = var.location
  force_destroy               = var.force_destroy
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  labels                      = merge(local.labels, { purpose = replace(each.key, "_", "-") })

  versioning {
    enabled = true
  }

  encryption {
    default_kms_key_name = google_kms_crypto_key.storage.id
  }

  logging {
    log_bucket        = google_storage_bucket.access_logs.name
    log_object_prefix = each.value.name
  }

  lifecycle_rule {
    condition {
      age = each.value.tiered ? var.nearline_after_days : var.artifacts_nearline_after_days
    }
    action {
      type          = "SetStorageClass"
      storage_class = "NEARLINE"
    }
  }

  dynamic "lifecycle_rule" {
    for_each = each.value.tiered ? [var.coldline_after_days] : []

    content {
      condition {
        age = lifecycle_rule.value
      }
      action {
        type          = "SetStorageClass"
        storage_class = "COLDLINE"
      }
    }
  }

  dynamic "lifecycle_rule" {
    for_each = each.value.expire_days == null ? [] : [each.value.expire_days]

    content {
      condition {
        age = lifecycle_rule.value
      }
      action {
        type = "Delete"
      }
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_version_expiration_days
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      age = 7
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }

  depends_on = [google_kms_crypto_key_iam_member.storage_agent]
}
