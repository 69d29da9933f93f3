output "registry" {
  description = "Host of the registry (<account>.dkr.ecr.<region>.amazonaws.com), for docker login."
  value       = local.registry
}

output "image_registry" {
  description = "Prefix the images are pushed under: <registry>/<name_prefix>; an image is <image_registry>/<image>:<tag>."
  value       = "${local.registry}/${var.name_prefix}"
}

output "repository_urls" {
  description = "Image name -> repository URL."
  value       = { for image, repo in aws_ecr_repository.this : image => repo.repository_url }
}

output "repository_arns" {
  description = "Image name -> repository ARN."
  value       = { for image, repo in aws_ecr_repository.this : image => repo.arn }
}
