variable "cluster_name" {
  type        = string
  description = "Name of the EKS cluster."
}

variable "kubernetes_version" {
  type        = string
  description = "Kubernetes minor version of the control plane and the node groups."
  default     = "1.33"
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets of the control plane network interfaces and of every node group."
}

variable "endpoint_public_access_cidrs" {
  type        = list(string)
  description = "CIDRs allowed to reach the public API endpoint (the machine that runs Terraform, a VPN egress). Empty: private endpoint only, Terraform must then run from inside the VPC."
  default     = []

  validation {
    condition     = !contains(var.endpoint_public_access_cidrs, "0.0.0.0/0")
    error_message = "The API endpoint is never open to 0.0.0.0/0; list the CIDRs that need it."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Days the control-plane logs are kept in CloudWatch Logs."
  default     = 365
}

variable "system_node_group" {
  type = object({
    instance_types = list(string)
    min_size       = number
    max_size       = number
    desired_size   = number
    disk_size      = number
  })
  description = "The on-demand CPU node group without taints: Airflow, MLflow, KServe, Prometheus, CPU training profiles and the model servers."
  nullable    = false
  default = {
    instance_types = ["m6i.xlarge"]
    min_size       = 2
    max_size       = 6
    desired_size   = 3
    disk_size      = 100
  }
}

variable "gpu_node_pools" {
  type = map(object({
    instance_types = list(string)
    capacity_type  = string
    ami_type       = string
    disk_size      = number
    min_size       = number
    max_size       = number
    desired_size   = number
    labels         = map(string)
    taints = list(object({
      key    = string
      value  = string
      effect = string
    }))
  }))
  description = "GPU node groups by pool name. The names, labels and taints are the node-pool contract of include/config/gpu_profiles.yaml: label tradewind.io/pool=<name>, taint nvidia.com/gpu=present:NoSchedule, and on spot pools also tradewind.io/spot=true:NoSchedule. Taint effects use the Kubernetes spelling (NoSchedule); the module maps them to the EKS API."
  nullable    = false
  default = {
    "gpu-t4-spot" = {
      instance_types = ["g4dn.xlarge", "g4dn.2xlarge"]
      capacity_type  = "SPOT"
      ami_type       = "AL2023_x86_64_NVIDIA"
      disk_size      = 200
      min_size       = 0
      max_size       = 4
      desired_size   = 0
      labels         = { "tradewind.io/pool" = "gpu-t4-spot" }
      taints = [
        { key = "nvidia.com/gpu", value = "present", effect = "NoSchedule" },
        { key = "tradewind.io/spot", value = "true", effect = "NoSchedule" },
      ]
    }
    "gpu-a100" = {
      instance_types = ["p4d.24xlarge"]
      capacity_type  = "ON_DEMAND"
      ami_type       = "AL2023_x86_64_NVIDIA"
      disk_size      = 500
      min_size       = 0
      max_size       = 2
      desired_size   = 0
      labels         = { "tradewind.io/pool" = "gpu-a100" }
      taints = [
        { key = "nvidia.com/gpu", value = "present", effect = "NoSchedule" },
      ]
    }
  }

  validation {
    condition     = alltrue([for name, pool in var.gpu_node_pools : lookup(pool.labels, "tradewind.io/pool", "") == name])
    error_message = "Every GPU pool carries the label tradewind.io/pool=<its name>."
  }

  validation {
    condition     = alltrue([for pool in values(var.gpu_node_pools) : contains(pool.taints, { key = "nvidia.com/gpu", value = "present", effect = "NoSchedule" })])
    error_message = "Every GPU pool carries the taint nvidia.com/gpu=present:NoSchedule."
  }

  validation {
    condition     = alltrue([for pool in values(var.gpu_node_pools) : (pool.capacity_type == "SPOT") == contains(pool.taints, { key = "tradewind.io/spot", value = "true", effect = "NoSchedule" })])
    error_message = "Spot pools, and only spot pools, carry the taint tradewind.io/spot=true:NoSchedule."
  }

  validation {
    condition     = alltrue([for pool in values(var.gpu_node_pools) : contains(["ON_DEMAND", "SPOT"], pool.capacity_type)])
    error_message = "capacity_type is ON_DEMAND or SPOT."
  }

  validation {
    condition     = alltrue(flatten([for pool in values(var.gpu_node_pools) : [for taint in pool.taints : contains(["NoSchedule", "PreferNoSchedule", "NoExecute"], taint.effect)]]))
    error_message = "Taint effects use the Kubernetes spelling: NoSchedule, PreferNoSchedule or NoExecute."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource of the module."
  default     = {}
}
