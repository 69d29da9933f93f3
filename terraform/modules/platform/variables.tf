variable "cloud" {
  type        = string
  description = "aws or gcp: selects the artifact store scheme of MLflow and the add-ons only EKS needs (NVIDIA device plugin, Cluster Autoscaler)."

  validation {
    condition     = contains(["aws", "gcp"], var.cloud)
    error_message = "cloud is aws or gcp."
  }
}

variable "cluster_name" {
  type        = string
  description = "Name of the Kubernetes cluster (Cluster Autoscaler discovers its node groups by it)."
}

variable "region" {
  type        = string
  description = "Cloud region of the cluster."
}

variable "service_accounts" {
  type = map(object({
    namespace = string
    name      = string
  }))
  description = "Workload (airflow, trainer, serving, mlflow) -> the Kubernetes service account it runs as; the namespaces are created here."

  validation {
    condition     = length(setsubtract(["airflow", "trainer", "serving", "mlflow"], keys(var.service_accounts))) == 0
    error_message = "service_accounts names the airflow, trainer, serving and mlflow workloads."
  }
}

variable "service_account_annotations" {
  type        = map(map(string))
  description = "Workload -> annotations of its service account (the IRSA role ARN or the Workload Identity service account)."
  default     = {}
}

variable "monitoring_namespace" {
  type        = string
  description = "Namespace of kube-prometheus-stack."
  default     = "monitoring"
}

variable "chart_versions" {
  type = object({
    airflow               = optional(string, "1.22.0")
    mlflow                = optional(string, "1.12.0")
    kube_prometheus_stack = optional(string, "88.3.0")
    cert_manager          = optional(string, "v1.18.2")
    knative_operator      = optional(string, "v1.21.1")
    kserve                = optional(string, "v0.18.0")
    nvidia_device_plugin  = optional(string, "0.17.1")
    cluster_autoscaler    = optional(string, "9.53.0")
  })
  description = "Pinned versions of the Helm charts; bump them deliberately."
  default     = {}
}

variable "airflow_version" {
  type        = string
  description = "Airflow version inside the Airflow image (the chart adapts its templates to it)."
  default     = "3.3.2"
}

variable "airflow_image" {
  type = object({
    repository = string
    tag        = string
  })
  description = "The Tradewind Airflow image (docker/airflow) in the registry: repository without tag, and an immutable tag."
}

variable "serving_image" {
  type        = string
  description = "The Tradewind model-server image (docker/serving) with its immutable tag; the ServingRuntime tradewind-mlflow runs it."
}

variable "airflow_env" {
  type        = map(string)
  description = "Extra environment of every Airflow container (TRADEWIND_PROFILE, AIRFLOW_CONN_* of the storage and Kubernetes connections, MLFLOW_TRACKING_URI)."
  default     = {}
}

variable "mlflow_image" {
  type = object({
    repository = optional(string)
    tag        = optional(string)
  })
  description = "Image of the MLflow tracking server; unset fields keep the chart's default (burakince/mlflow at the chart's app version, which has the PostgreSQL, S3 and GCS clients)."
  default     = {}
}

variable "artifacts_bucket" {
  type        = string
  description = "Bucket of the MLflow artifact store (runs and models go under <bucket>/mlflow)."
}

variable "database" {
  type = object({
    host           = string
    port           = number
    admin_username = string
    admin_password = string
  })
  description = "The PostgreSQL server and its admin user; a bootstrap Job creates the application roles and databases with it."
  sensitive   = true
}

variable "database_credentials" {
  type = map(object({
    database = string
    username = string
    password = string
  }))
  description = "Application (airflow, mlflow) -> its database, role and password."
  sensitive   = true
}

variable "database_bootstrap_image" {
  type        = string
  description = "Image with psql that runs the database bootstrap Job."
  default     = "postgres:17.6-alpine"
}

variable "gpu_node_pools" {
  type = map(object({
    labels = map(string)
    taints = list(object({
      key    = string
      value  = string
      effect = string
    }))
  }))
  description = "GPU pool name -> labels and taints of its nodes; the NVIDIA device plugin (EKS) runs on exactly these nodes."
  default     = {}
}

variable "cluster_autoscaler_role_arn" {
  type        = string
  description = "IAM role of the Cluster Autoscaler (EKS); ignored on GKE, whose node pools autoscale by themselves."
  default     = null
}

variable "prometheus_retention" {
  type        = string
  description = "How long Prometheus keeps samples (the canary reads minutes; drift dashboards read days)."
  default     = "15d"
}

variable "grafana_enabled" {
  type        = bool
  description = "Install Grafana with kube-prometheus-stack."
  default     = false
}

variable "manifests_enabled" {
  type        = bool
  description = "Apply the custom resources (KnativeServing, the files in manifests/). Their CRDs come with the Helm releases, so the first apply of a new cluster runs with false, the second with true."
  default     = true
}
