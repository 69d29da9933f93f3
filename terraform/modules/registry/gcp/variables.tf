variable "project_id" {
  type        = string
  description = "Google Cloud project of the repository."
}

variable "location" {
  type        = string
  description = "Region of the Artifact Registry repository (the cluster's region)."
}

variable "repository_id" {
  type        = string
  description = "ID of the Docker repository; images are pushed to <location>-docker.pkg.dev/<project>/<repository_id>/<image>."
  default     = "tradewind"
}

variable "images" {
  type        = list(string)
  description = "Images of the platform (airflow, trainer, serving); one repository holds them all."
  default     = ["airflow", "trainer", "serving"]
}

variable "untagged_expiration_days" {
  type        = number
  description = "Days after which untagged images (superseded pushes, failed builds) are deleted."
  default     = 14
}

variable "labels" {
  type        = map(string)
  description = "Labels of the repository."
  default     = {}
}
