output "registry" {
  description = "Host of the registry (<location>-docker.pkg.dev), for gcloud auth configure-docker."
  value       = "${var.location}-docker.pkg.dev"
}

output "image_registry" {
  description = "Prefix the images are pushed under: <location>-docker.pkg.dev/<project>/<repository_id>; an image is <image_registry>/<image>:<tag>."
  value       = "${var.location}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.this.repository_id}"
}

output "repository_urls" {
  description = "Image name -> image URL without a tag."
  value       = { for image in var.images : image => "${var.location}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.this.repository_id}/${image}" }
}

output "repository_id" {
  description = "ID of the Artifact Registry repository."
  value       = google_artifact_registry_repository.this.id
}
