variable "name_prefix" {
  type        = string
  description = "Namespace of the repositories: images are pushed to <registry>/<name_prefix>/<image>."
  default     = "tradewind"
}

variable "images" {
  type        = list(string)
  description = "Images of the platform, one repository each."
  default     = ["airflow", "trainer", "serving"]
}

variable "untagged_expiration_days" {
  type        = number
  description = "Days after which untagged images (superseded pushes, failed builds) are deleted."
  default     = 14
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource of the module."
  default     = {}
}
