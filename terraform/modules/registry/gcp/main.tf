data "google_project" "this" {
  project_id = var.project_id
}

resource "google_kms_key_ring" "registry" {
  project  = var.project_id
  name     = "${var.repository_id}-registry"
  location = var.location
}

resource "google_kms_crypto_key" "registry" {
  name            = "images"
  key_ring        = google_kms_key_ring.registry.id
  rotation_period = "7776000s"

  lifecycle {
    prevent_destroy = true
  }
}

# The Artifact Registry service agent encrypts and decrypts image layers with the key.
resource "google_kms_crypto_key_iam_member" "registry_agent" {
  crypto_key_id = google_kms_crypto_key.registry.id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-artifactregistry.iam.gserviceaccount.com"
}

# Tags are immutable: a tag names one build forever, so push versioned tags (cuda-1.4.0, a git sha).
# Images are scanned on push once the Container Scanning API is enabled (the gcp root module does).
resource "google_artifact_registry_repository" "this" {
  project       = var.project_id
  location      = var.location
  repository_id = var.repository_id
  description   = "Tradewind images: ${join(", ", var.images)}"
  format        = "DOCKER"
  kms_key_name  = google_kms_crypto_key.registry.id
  labels        = merge({ app = "tradewind" }, var.labels)

  docker_config {
    immutable_tags = true
  }

  cleanup_policies {
    id     = "delete-untagged"
    action = "DELETE"

    condition {
      tag_state  = "UNTAGGED"
      older_than = "${var.untagged_expiration_days * 86400}s"
    }
  }

  depends_on = [google_kms_crypto_key_iam_member.registry_agent]
}
