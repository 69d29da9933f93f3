variable "project_id" {
  type        = string
  description = "Google Cloud project that owns the network."
}

variable "region" {
  type        = string
  description = "Region of the subnetwork, the Cloud Router and Cloud NAT."
}

variable "name" {
  type        = string
  description = "Name prefix of every network resource (usually the cluster name)."
}

variable "subnet_cidr" {
  type        = string
  description = "Primary IPv4 range of the subnetwork (GKE nodes)."
  default     = "10.40.0.0/20"
}

variable "pods_cidr" {
  type        = string
  description = "Secondary range for GKE pod IPs (VPC-native cluster)."
  default     = "10.48.0.0/14"
}

variable "services_cidr" {
  type        = string
  description = "Secondary range for GKE Service cluster IPs."
  default     = "10.52.0.0/20"
}

variable "private_services_prefix_length" {
  type        = number
  description = "Prefix length of the range reserved for private services access (Cloud SQL private IP)."
  default     = 20
}
