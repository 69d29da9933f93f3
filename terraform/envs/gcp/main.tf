provider "google" {
  project = var.project_id
  region  = var.region
}

data "google_client_config" "current" {}

# Both providers reach the cluster with the access token of the caller, so no credential is stored.
provider "kubernetes" {
  host                   = "https://${module.gke.cluster_endpoint}"
  token                  = data.google_client_config.current.access_token
  cluster_ca_certificate = base64decode(module.gke.cluster_ca_certificate)
}

provider "helm" {
  kubernetes = {
    host                   = "https://${module.gke.cluster_endpoint}"
    token                  = data.google_client_config.current.access_token
    cluster_ca_certificate = base64decode(module.gke.cluster_ca_certificate)
  }
}

locals {
  labels = merge({ environment = "gcp" }, var.labels)

  service_accounts = {
    airflow = { namespace = var.airflow_namespace, name = "airflow" }
    mlflow  = { namespace = var.mlflow_namespace, name = "mlflow" }
    trainer = { namespace = var.training_namespace, name = "tradewind-trainer" }
    serving = { namespace = var.serving_namespace, name = "tradewind-serving" }
  }

  # Airflow connections as environment variables (JSON form); the Google one carries no key, the
  # client libraries use the pod's Workload Identity.
  airflow_env = {
    TRADEWIND_PROFILE                               = "gcp"
    "AIRFLOW_CONN_${upper(var.storage_conn_id)}"    = jsonencode({ conn_type = "google_cloud_platform", extra = { project = var.project_id } })
    "AIRFLOW_CONN_${upper(var.kubernetes_conn_id)}" = jsonencode({ conn_type = "kubernetes", extra = { in_cluster = true } })
  }

  apis = [
    "artifactregistry.googleapis.com",
    "cloudkms.googleapis.com",
    "compute.googleapis.com",
    "container.googleapis.com",
    "containerscanning.googleapis.com",
    "iam.googleapis.com",
    "servicenetworking.googleapis.com",
    "sqladmin.googleapis.com",
    "storage.googleapis.com",
  ]
}

resource "google_project_service" "this" {
  for_each = toset(local.apis)

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}

module "network" {
  source = "../../modules/network/gcp"

  project_id = var.project_id
  region     = var.region
  name       = var.cluster_name

  depends_on = [google_project_service.this]
}

module "gke" {
  source = "../../modules/gke"

  project_id                 = var.project_id
  region                     = var.region
  cluster_name               = var.cluster_name
  network                    = module.network.network_id
  subnetwork                 = module.network.subnetwork_id
  pods_range_name            = module.network.pods_range_name
  services_range_name        = module.network.services_range_name
  master_authorized_networks = var.master_authorized_networks
  release_channel            = var.release_channel
  deletion_protection        = var.deletion_protection
  system_pool                = var.system_pool
  gpu_node_pools             = var.gpu_node_pools
  labels                     = local.labels

  depends_on = [google_project_service.this]
}

module "storage" {
  source = "../../modules/storage/gcp"

  project_id    = var.project_id
  location      = var.region
  name_prefix   = var.name_prefix
  force_destroy = var.force_destroy_buckets
  labels        = local.labels

  depends_on = [google_project_service.this]
}

module "database" {
  source = "../../modules/database/gcp"

  project_id          = var.project_id
  region              = var.region
  instance_name       = var.cluster_name
  network_id          = module.network.network_id
  tier                = var.database_tier
  availability_type   = var.database_availability_type
  deletion_protection = var.deletion_protection
  labels              = local.labels

  # The private IP needs the private services access connection of the network.
  depends_on = [module.network]
}

module "registry" {
  source = "../../modules/registry/gcp"

  project_id    = var.project_id
  location      = var.region
  repository_id = var.cluster_name
  labels        = local.labels

  depends_on = [google_project_service.this]
}

module "iam" {
  source = "../../modules/iam/gcp"

  project_id       = var.project_id
  name_prefix      = var.cluster_name
  workload_pool    = module.gke.workload_pool
  service_accounts = local.service_accounts
  bucket_names     = module.storage.bucket_names

  depends_on = [google_project_service.this]
}

module "platform" {
  source = "../../modules/platform"

  cloud                       = "gcp"
  cluster_name                = module.gke.cluster_name
  region                      = var.region
  service_accounts            = local.service_accounts
  service_account_annotations = module.iam.service_account_annotations
  airflow_image               = { repository = module.registry.repository_urls["airflow"], tag = var.airflow_image_tag }
  serving_image               = "${module.registry.repository_urls["serving"]}:${var.serving_image_tag}"
  airflow_env                 = local.airflow_env
  artifacts_bucket            = module.storage.artifacts_bucket
  gpu_node_pools              = module.gke.gpu_node_pools
  manifests_enabled           = var.manifests_enabled

  database = {
    host           = module.database.host
    port           = module.database.port
    admin_username = module.database.admin_username
    admin_password = module.database.admin_password
  }
  database_credentials = module.database.app_credentials

  depends_on = [module.gke]
}
