variable "name" {
  type        = string
  description = "Name prefix of every network resource (usually the cluster name)."
}

variable "cluster_name" {
  type        = string
  description = "EKS cluster name, written in the subnet tags that the AWS load balancer controller and EKS read."
}

variable "cidr_block" {
  type        = string
  description = "IPv4 CIDR of the VPC; public /24 and private /20 subnets are carved from it, one pair per availability zone."
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrhost(var.cidr_block, 0)) && tonumber(split("/", var.cidr_block)[1]) <= 16
    error_message = "cidr_block must be a valid IPv4 CIDR of size /16 or larger."
  }
}

variable "availability_zones" {
  type        = list(string)
  description = "Availability zones to spread the subnets over (two or three; GPU instance types must be offered in them)."

  validation {
    condition     = length(var.availability_zones) >= 2 && length(var.availability_zones) <= 3
    error_message = "Give two or three availability zones."
  }
}

variable "single_nat_gateway" {
  type        = bool
  description = "One NAT gateway for all private subnets (cheaper) instead of one per availability zone (survives a zone outage)."
  default     = false
}

variable "flow_log_retention_days" {
  type        = number
  description = "Days the VPC flow logs are kept in CloudWatch Logs."
  default     = 365
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource of the module."
  default     = {}
}
