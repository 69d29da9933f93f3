variable "project_id" {
  type        = string
  description = "Google Cloud project of the cluster."
}

variable "region" {
  type        = string
  description = "Region of the (regional) GKE cluster."
}

variable "cluster_name" {
  type        = string
  description = "Name of the GKE cluster."
}

variable "network" {
  type        = string
  description = "ID or self link of the VPC network."
}

variable "subnetwork" {
  type        = string
  description = "ID or self link of the subnetwork of the nodes."
}

variable "pods_range_name" {
  type        = string
  description = "Secondary range of the subnetwork for pod IPs."
}

variable "services_range_name" {
  type        = string
  description = "Secondary range of the subnetwork for Service IPs."
}

variable "master_ipv4_cidr_block" {
  type        = string
  description = "/28 range of the private control-plane endpoint."
  default     = "172.16.0.0/28"
}

variable "master_authorized_networks" {
  type = list(object({
    cidr_block   = string
    display_name = string
  }))
  description = "CIDRs allowed to reach the control plane (the machine that runs Terraform, a VPN egress); the subnetwork is always allowed."
  default     = []

  validation {
    condition     = alltrue([for n in var.master_authorized_networks : n.cidr_block != "0.0.0.0/0"])
    error_message = "The control plane is never open to 0.0.0.0/0; list the CIDRs that need it."
  }
}

variable "release_channel" {
  type        = string
  description = "GKE release channel (RAPID, REGULAR or STABLE); GKE upgrades the control plane and nodes within it."
  default     = "REGULAR"
}

variable "deletion_protection" {
  type        = bool
  description = "Refuse terraform destroy of the cluster until this is set to false."
  default     = true
}

variable "system_pool" {
  type = object({
    machine_type   = string
    min_node_count = number
    max_node_count = number
    disk_size_gb   = number
  })
  description = "The CPU node pool without taints (per zone counts): Airflow, MLflow, KServe, Prometheus, CPU training profiles and the model servers."
  nullable    = false
  default = {
    machine_type   = "e2-standard-4"
    min_node_count = 1
    max_node_count = 3
    disk_size_gb   = 100
  }
}

variable "gpu_node_pools" {
  type = map(object({
    machine_type      = string
    accelerator_type  = string
    accelerator_count = number
    spot              = bool
    disk_size_gb      = number
    min_node_count    = number
    max_node_count    = number
    node_locations    = list(string)
    labels            = map(string)
    taints = list(object({
      key    = string
      value  = string
      effect = string
    }))
  }))
  description = "GPU node pools by pool name (per zone counts; node_locations: zones that offer the accelerator, empty for the cluster's zones). The names, labels and taints are the node-pool contract of include/config/gpu_profiles.yaml: label tradewind.io/pool=<name>, taint nvidia.com/gpu=present:NoSchedule, and on spot pools also tradewind.io/spot=true:NoSchedule. Taint effects use the Kubernetes spelling (NoSchedule); the module maps them to the GKE API (NO_SCHEDULE)."
  nullable    = false
  default = {
    "gpu-t4-spot" = {
      machine_type      = "n1-standard-8"
      accelerator_type  = "nvidia-tesla-t4"
      accelerator_count = 1
      spot              = true
      disk_size_gb      = 200
      min_node_count    = 0
      max_node_count    = 4
      node_locations    = []
      labels            = { "tradewind.io/pool" = "gpu-t4-spot" }
      taints = [
        { key = "nvidia.com/gpu", value = "present", effect = "NoSchedule" },
        { key = "tradewind.io/spot", value = "true", effect = "NoSchedule" },
      ]
    }
    "gpu-a100" = {
      machine_type      = "a2-highgpu-1g"
      accelerator_type  = "nvidia-tesla-a100"
      accelerator_count = 1
      spot              = false
      disk_size_gb      = 500
      min_node_count    = 0
      max_node_count    = 2
      node_locations    = []
      labels            = { "tradewind.io/pool" = "gpu-a100" }
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
    condition     = alltrue([for pool in values(var.gpu_node_pools) : pool.spot == contains(pool.taints, { key = "tradewind.io/spot", value = "true", effect = "NoSchedule" })])
    error_message = "Spot pools, and only spot pools, carry the taint tradewind.io/spot=true:NoSchedule."
  }

  validation {
    condition     = alltrue(flatten([for pool in values(var.gpu_node_pools) : [for taint in pool.taints : contains(["NoSchedule", "PreferNoSchedule", "NoExecute"], taint.effect)]]))
    error_message = "Taint effects use the Kubernetes spelling: NoSchedule, PreferNoSchedule or NoExecute."
  }
}

variable "labels" {
  type        = map(string)
  description = "Labels added to the cluster and to the cloud resources of its nodes (app = tradewind is always added)."
  default     = {}
}
