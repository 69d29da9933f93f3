data "google_project" "this" {
  project_id = var.project_id
}

locals {
  # Kubernetes spells taint effects NoSchedule; the GKE API spells them NO_SCHEDULE.
  gke_taint_effect = {
    NoSchedule       = "NO_SCHEDULE"
    PreferNoSchedule = "PREFER_NO_SCHEDULE"
    NoExecute        = "NO_EXECUTE"
  }
  oauth_scopes = ["https://www.googleapis.com/auth/cloud-platform"]
  labels       = merge({ app = "tradewind" }, var.labels)
}

# ---------------------------------------------------------------------------------------------
# Node service account: logs, metrics and image pulls, nothing else
# ---------------------------------------------------------------------------------------------

resource "google_service_account" "nodes" {
  project      = var.project_id
  account_id   = substr("${var.cluster_name}-nodes", 0, 30)
  display_name = "${var.cluster_name} GKE nodes"
}

resource "google_project_iam_member" "nodes" {
  for_each = toset([
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
    "roles/artifactregistry.reader",
  ])

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.nodes.email}"
}

# ---------------------------------------------------------------------------------------------
# Application-layer encryption of Kubernetes Secrets
# ---------------------------------------------------------------------------------------------

resource "google_kms_key_ring" "cluster" {
  project  = var.project_id
  name     = "${var.cluster_name}-gke"
  location = var.region
}

resource "google_kms_crypto_key" "secrets" {
  name            = "kubernetes-secrets"
  key_ring        = google_kms_key_ring.cluster.id
  rotation_period = "7776000s"

  lifecycle {
    prevent_destroy = true
  }
}

resource "google_kms_crypto_key_iam_member" "gke_agent" {
  crypto_key_id = google_kms_crypto_key.secrets.id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = "serviceAccount:service-${data.google_project.this.number}@container-engine-robot.iam.gserviceaccount.com"
}

# ---------------------------------------------------------------------------------------------
# Cluster: regional, private nodes, Workload Identity, Dataplane V2 network policy
# ---------------------------------------------------------------------------------------------

resource "google_container_cluster" "this" {
  #checkov:skip=CKV_GCP_65:RBAC through Google Groups needs a Google Workspace or Cloud Identity domain that a fork may not have; access is granted with IAM roles instead.
  #checkov:skip=CKV_GCP_24:PodSecurityPolicy was removed from Kubernetes in 1.25; Pod Security admission replaces it.
  #checkov:skip=CKV_GCP_12:Dataplane V2 (datapath_provider ADVANCED_DATAPATH) enforces NetworkPolicy natively; the Calico network_policy add-on cannot be combined with it.
  project  = var.project_id
  name     = var.cluster_name
  location = var.region

  network    = var.network
  subnetwork = var.subnetwork

  # Pools are separate resources; the default pool is removed once the cluster exists.
  remove_default_node_pool = true
  initial_node_count       = 1
  deletion_protection      = var.deletion_protection
  resource_labels          = local.labels

  release_channel {
    channel = var.release_channel
  }

  ip_allocation_policy {
    cluster_secondary_range_name  = var.pods_range_name
    services_secondary_range_name = var.services_range_name
  }

  private_cluster_config {
    enable_private_nodes    = true
    enable_private_endpoint = false
    master_ipv4_cidr_block  = var.master_ipv4_cidr_block
  }

  master_authorized_networks_config {
    dynamic "cidr_blocks" {
      for_each = var.master_authorized_networks

      content {
        cidr_block   = cidr_blocks.value.cidr_block
        display_name = cidr_blocks.value.display_name
      }
    }
  }

  master_auth {
    client_certificate_config {
      issue_client_certificate = false
    }
  }

  workload_identity_config {
    workload_pool = "${var.project_id}.svc.id.goog"
  }

  database_encryption {
    state    = "ENCRYPTED"
    key_name = google_kms_crypto_key.secrets.id
  }

  datapath_provider           = "ADVANCED_DATAPATH"
  enable_intranode_visibility = true
  enable_shielded_nodes       = true
  enable_legacy_abac          = false

  binary_authorization {
    evaluation_mode = "PROJECT_SINGLETON_POLICY_ENFORCE"
  }

  logging_config {
    enable_components = ["SYSTEM_COMPONENTS", "WORKLOADS"]
  }

  monitoring_config {
    enable_components = ["SYSTEM_COMPONENTS"]

    managed_prometheus {
      enabled = false
    }
  }

  # Only used by the default pool, which is removed right after creation.
  node_config {
    service_account = google_service_account.nodes.email
    oauth_scopes    = local.oauth_scopes
    image_type      = "COS_CONTAINERD"

    workload_metadata_config {
      mode = "GKE_METADATA"
    }

    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }

    metadata = {
      disable-legacy-endpoints = "true"
    }
  }

  depends_on = [google_kms_crypto_key_iam_member.gke_agent]
}

resource "google_container_node_pool" "system" {
  project  = var.project_id
  name     = "system"
  cluster  = google_container_cluster.this.id
  location = var.region

  autoscaling {
    min_node_count = var.system_pool.min_node_count
    max_node_count = var.system_pool.max_node_count
  }

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  node_config {
    machine_type    = var.system_pool.machine_type
    disk_size_gb    = var.system_pool.disk_size_gb
    disk_type       = "pd-balanced"
    image_type      = "COS_CONTAINERD"
    service_account = google_service_account.nodes.email
    oauth_scopes    = local.oauth_scopes
    resource_labels = local.labels

    workload_metadata_config {
      mode = "GKE_METADATA"
    }

    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }

    metadata = {
      disable-legacy-endpoints = "true"
    }
  }

  depends_on = [google_project_iam_member.nodes]
}

resource "google_container_node_pool" "gpu" {
  for_each = var.gpu_node_pools

  project        = var.project_id
  name           = each.key
  cluster        = google_container_cluster.this.id
  location       = var.region
  node_locations = length(each.value.node_locations) > 0 ? each.value.node_locations : null

  autoscaling {
    min_node_count = each.value.min_node_count
    max_node_count = each.value.max_node_count
  }

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  node_config {
    machine_type    = each.value.machine_type
    disk_size_gb    = each.value.disk_size_gb
    disk_type       = "pd-balanced"
    image_type      = "COS_CONTAINERD"
    spot            = each.value.spot
    service_account = google_service_account.nodes.email
    oauth_scopes    = local.oauth_scopes
    labels          = each.value.labels
    resource_labels = local.labels

    guest_accelerator {
      type  = each.value.accelerator_type
      count = each.value.accelerator_count

      # GKE installs the NVIDIA driver and runs its own device plugin on these nodes.
      gpu_driver_installation_config {
        gpu_driver_version = "LATEST"
      }
    }

    dynamic "taint" {
      for_each = each.value.taints

      content {
        key    = taint.value.key
        value  = taint.value.value
        effect = local.gke_taint_effect[taint.value.effect]
      }
    }

    workload_metadata_config {
      mode = "GKE_METADATA"
    }

    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }

    metadata = {
      disable-legacy-endpoints = "true"
    }
  }

  depends_on = [google_project_iam_member.nodes]
}
