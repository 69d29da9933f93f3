locals {
  airflow = var.service_accounts["airflow"]
  mlflow  = var.service_accounts["mlflow"]
  trainer = var.service_accounts["trainer"]
  serving = var.service_accounts["serving"]

  namespaces = toset(concat(
    [for account in values(var.service_accounts) : account.namespace],
    [var.monitoring_namespace, "knative-serving"],
  ))

  artifact_scheme = var.cloud == "aws" ? "s3" : "gs"

  mlflow_host         = "mlflow.${local.mlflow.namespace}.svc.cluster.local"
  mlflow_tracking_uri = "http://${local.mlflow_host}:5000"
  prometheus_url      = "http://kube-prometheus-stack-prometheus.${var.monitoring_namespace}.svc.cluster.local:9090"

  airflow_db = var.database_credentials["airflow"]
  mlflow_db  = var.database_credentials["mlflow"]

  # The three objects the Python builders render (python -m tradewind.k8s.render_platform), each
  # with the namespace it lives in. templatefile() fills ${namespace} and ${serving_image}; a file
  # that holds only comments is a placeholder and applies nothing; every other file holds exactly
  # one Kubernetes object.
  manifest_namespaces = {
    "serving-runtime.yaml"         = local.serving.namespace
    "trainer-workers-service.yaml" = local.trainer.namespace
    "trainer-network-policy.yaml"  = local.trainer.namespace
    "pod-monitor.yaml"             = local.serving.namespace
  }
  manifest_text = {
    for name, namespace in local.manifest_namespaces : name => templatefile("${path.module}/manifests/${name}", {
      namespace     = namespace
      serving_image = var.serving_image
    })
  }
  manifests = {
    for name, text in local.manifest_text : name => yamldecode(text)
    if length([for line in split("\n", text) : line if trimspace(line) != "" && !startswith(trimspace(line), "#")]) > 0
  }

  gpu_tolerations = [
    { key = "nvidia.com/gpu", operator = "Exists", effect = "NoSchedule" },
    { key = "tradewind.io/spot", operator = "Exists", effect = "NoSchedule" },
  ]
}

# ---------------------------------------------------------------------------------------------
# Namespaces and the service accounts the cloud identities are bound to
# ---------------------------------------------------------------------------------------------

resource "kubernetes_namespace_v1" "this" {
  for_each = local.namespaces

  metadata {
    name = each.value
    labels = {
      "app.kubernetes.io/part-of" = "tradewind"
    }
  }
}

resource "kubernetes_service_account_v1" "this" {
  for_each = var.service_accounts

  metadata {
    name        = each.value.name
    namespace   = kubernetes_namespace_v1.this[each.value.namespace].metadata[0].name
    annotations = lookup(var.service_account_annotations, each.key, {})
    labels = {
      "app.kubernetes.io/part-of"   = "tradewind"
      "app.kubernetes.io/component" = each.key
    }
  }
}

# Airflow launches trainer pods and indexed Jobs in the training namespace...
resource "kubernetes_role_v1" "airflow_training" {
  metadata {
    name      = "tradewind-airflow-training"
    namespace = kubernetes_namespace_v1.this[local.trainer.namespace].metadata[0].name
  }

  rule {
    api_groups = [""]
    resources  = ["pods"]
    verbs      = ["create", "get", "list", "watch", "patch", "delete"]
  }

  rule {
    api_groups = [""]
    resources  = ["pods/log", "events", "services"]
    verbs      = ["get", "list", "watch"]
  }

  rule {
    api_groups = [""]
    resources  = ["pods/exec"]
    verbs      = ["create", "get"]
  }

  rule {
    api_groups = ["batch"]
    resources  = ["jobs"]
    verbs      = ["create", "get", "list", "watch", "patch", "delete"]
  }
}

resource "kubernetes_role_binding_v1" "airflow_training" {
  metadata {
    name      = "tradewind-airflow-training"
    namespace = kubernetes_role_v1.airflow_training.metadata[0].namespace
  }

  role_ref {
    api_group = "rbac.authorization.k8s.io"
    kind      = "Role"
    name      = kubernetes_role_v1.airflow_training.metadata[0].name
  }

  subject {
    kind      = "ServiceAccount"
    name      = local.airflow.name
    namespace = local.airflow.namespace
  }
}

# ...and drives the canary of the InferenceServices in the serving namespace.
resource "kubernetes_role_v1" "airflow_serving" {
  metadata {
    name      = "tradewind-airflow-serving"
    namespace = kubernetes_namespace_v1.this[local.serving.namespace].metadata[0].name
  }

  rule {
    api_groups = ["serving.kserve.io"]
    resources  = ["inferenceservices"]
    verbs      = ["create", "get", "list", "watch", "patch", "update", "delete"]
  }

  rule {
    api_groups = ["serving.kserve.io"]
    resources  = ["servingruntimes"]
    verbs      = ["get", "list", "watch"]
  }

  rule {
    api_groups = [""]
    resources  = ["pods", "pods/log", "events"]
    verbs      = ["get", "list", "watch"]
  }
}

resource "kubernetes_role_binding_v1" "airflow_serving" {
  metadata {
    name      = "tradewind-airflow-serving"
    namespace = kubernetes_role_v1.airflow_serving.metadata[0].namespace
  }

  role_ref {
    api_group = "rbac.authorization.k8s.io"
    kind      = "Role"
    name      = kubernetes_role_v1.airflow_serving.metadata[0].name
  }

  subject {
    kind      = "ServiceAccount"
    name      = local.airflow.name
    namespace = local.airflow.namespace
  }
}

# ---------------------------------------------------------------------------------------------
# Databases: one PostgreSQL server, a role and a database each for Airflow and MLflow
# ---------------------------------------------------------------------------------------------

resource "kubernetes_secret_v1" "database_admin" {
  metadata {
    name      = "tradewind-database-admin"
    namespace = kubernetes_namespace_v1.this[local.airflow.namespace].metadata[0].name
  }

  data = merge(
    {
      PGHOST     = var.database.host
      PGPORT     = tostring(var.database.port)
      PGUSER     = var.database.admin_username
      PGPASSWORD = var.database.admin_password
      PGDATABASE = "postgres"
      PGSSLMODE  = "require"
      DATABASES  = join(" ", sort(keys(var.database_credentials)))
    },
    { for app, credentials in var.database_credentials : "PASSWORD_${credentials.username}" => credentials.password },
  )
}

resource "kubernetes_job_v1" "database_bootstrap" {
  metadata {
    name      = "tradewind-database-bootstrap"
    namespace = kubernetes_secret_v1.database_admin.metadata[0].namespace
  }

  spec {
    backoff_limit = 6

    template {
      metadata {
        labels = {
          "app.kubernetes.io/name"    = "tradewind-database-bootstrap"
          "app.kubernetes.io/part-of" = "tradewind"
        }
      }

      spec {
        restart_policy                  = "OnFailure"
        automount_service_account_token = false

        security_context {
          run_as_non_root = true
          run_as_user     = 70
          run_as_group    = 70

          seccomp_profile {
            type = "RuntimeDefault"
          }
        }

        container {
          name              = "psql"
          image             = var.database_bootstrap_image
          image_pull_policy = "Always"
          command           = ["/bin/sh", "-ec"]
          # Idempotent: creates each role and its database once, and resets the role's password.
          args = [<<-EOT
            for db in $DATABASES; do
              password="$(printenv "PASSWORD_$db")"
              psql -v ON_ERROR_STOP=1 -v role="$db" -v password="$password" <<'SQL'
            SELECT format('CREATE ROLE %I LOGIN', :'role')
              WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
            ALTER ROLE :"role" WITH LOGIN PASSWORD :'password';
            GRANT :"role" TO CURRENT_USER;
            SELECT format('CREATE DATABASE %I OWNER %I', :'role', :'role')
              WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'role') \gexec
            SQL
            done
          EOT
          ]

          env_from {
            secret_ref {
              name = kubernetes_secret_v1.database_admin.metadata[0].name
            }
          }

          resources {
            requests = { cpu = "50m", memory = "64Mi" }
            limits   = { cpu = "500m", memory = "128Mi" }
          }

          security_context {
            allow_privilege_escalation = false
            read_only_root_filesystem  = true
            run_as_non_root            = true

            capabilities {
              drop = ["ALL"]
            }
          }
        }
      }
    }
  }

  wait_for_completion = true

  timeouts {
    create = "10m"
    update = "10m"
  }
}

resource "kubernetes_secret_v1" "airflow_metadata" {
  metadata {
    name      = "airflow-metadata"
    namespace = kubernetes_namespace_v1.this[local.airflow.namespace].metadata[0].name
  }

  data = {
    connection = "postgresql://${local.airflow_db.username}:${local.airflow_db.password}@${var.database.host}:${var.database.port}/${local.airflow_db.database}?sslmode=require"
  }
}

resource "kubernetes_secret_v1" "mlflow_database" {
  metadata {
    name      = "mlflow-database"
    namespace = kubernetes_namespace_v1.this[local.mlflow.namespace].metadata[0].name
  }

  data = {
    username = local.mlflow_db.username
    password = local.mlflow_db.password
  }
}

# ---------------------------------------------------------------------------------------------
# Monitoring: Prometheus (the canary's SLO judge reads it) and the operator's CRDs
# ---------------------------------------------------------------------------------------------

resource "helm_release" "kube_prometheus_stack" {
  name       = "kube-prometheus-stack"
  repository = "https://prometheus-community.github.io/helm-charts"
  chart      = "kube-prometheus-stack"
  version    = var.chart_versions.kube_prometheus_stack
  namespace  = kubernetes_namespace_v1.this[var.monitoring_namespace].metadata[0].name
  timeout    = 900

  values = [yamlencode({
    grafana      = { enabled = var.grafana_enabled }
    alertmanager = { enabled = false }
    prometheus = {
      prometheusSpec = {
        retention = var.prometheus_retention
        # Select every PodMonitor and ServiceMonitor, not only those labelled for this release.
        podMonitorSelectorNilUsesHelmValues     = false
        serviceMonitorSelectorNilUsesHelmValues = false
        ruleSelectorNilUsesHelmValues           = false
        probeSelectorNilUsesHelmValues          = false
      }
    }
  })]
}

# ---------------------------------------------------------------------------------------------
# Serving: cert-manager, Knative Serving with Kourier, KServe in Knative mode (canary traffic split)
# ---------------------------------------------------------------------------------------------

resource "helm_release" "cert_manager" {
  name             = "cert-manager"
  repository       = "https://charts.jetstack.io"
  chart            = "cert-manager"
  version          = var.chart_versions.cert_manager
  namespace        = "cert-manager"
  create_namespace = true

  values = [yamlencode({
    crds = { enabled = true }
  })]
}

resource "helm_release" "knative_operator" {
  name             = "knative-operator"
  repository       = "https://knative.github.io/operator"
  chart            = "knative-operator"
  version          = var.chart_versions.knative_operator
  namespace        = "knative-operator"
  create_namespace = true
}

resource "kubernetes_manifest" "knative_serving" {
  count = var.manifests_enabled ? 1 : 0

  manifest = {
    apiVersion = "operator.knative.dev/v1beta1"
    kind       = "KnativeServing"
    metadata = {
      name      = "knative-serving"
      namespace = kubernetes_namespace_v1.this["knative-serving"].metadata[0].name
    }
    spec = {
      ingress = { kourier = { enabled = true } }
      config = {
        network = { "ingress-class" = "kourier.ingress.networking.knative.dev" }
      }
    }
  }

  depends_on = [helm_release.knative_operator]
}

resource "helm_release" "kserve_crd" {
  name             = "kserve-crd"
  repository       = "oci://ghcr.io/kserve/charts"
  chart            = "kserve-crd"
  version          = var.chart_versions.kserve
  namespace        = "kserve"
  create_namespace = true
}

resource "helm_release" "kserve" {
  name             = "kserve"
  repository       = "oci://ghcr.io/kserve/charts"
  chart            = "kserve-resources"
  version          = var.chart_versions.kserve
  namespace        = "kserve"
  create_namespace = true

  values = [yamlencode({
    kserve = {
      controller = {
        deploymentMode = "Knative"
        # Kourier, not Istio, is the Knative networking layer.
        gateway = { disableIstioVirtualHost = true }
      }
    }
  })]

  depends_on = [helm_release.kserve_crd, helm_release.cert_manager]
}

# ---------------------------------------------------------------------------------------------
# GPUs and node scaling on EKS (GKE installs the driver and device plugin, and autoscales pools)
# ---------------------------------------------------------------------------------------------

resource "helm_release" "nvidia_device_plugin" {
  count = var.cloud == "aws" && length(var.gpu_node_pools) > 0 ? 1 : 0

  name       = "nvidia-device-plugin"
  repository = "https://nvidia.github.io/k8s-device-plugin"
  chart      = "nvidia-device-plugin"
  version    = var.chart_versions.nvidia_device_plugin
  namespace  = "kube-system"

  values = [yamlencode({
    tolerations = local.gpu_tolerations
    affinity = {
      nodeAffinity = {
        requiredDuringSchedulingIgnoredDuringExecution = {
          nodeSelectorTerms = [{
            matchExpressions = [{
              key      = "tradewind.io/pool"
              operator = "In"
              values   = sort(keys(var.gpu_node_pools))
            }]
          }]
        }
      }
    }
  })]
}

resource "helm_release" "cluster_autoscaler" {
  count = var.cloud == "aws" ? 1 : 0

  name       = "cluster-autoscaler"
  repository = "https://kubernetes.github.io/autoscaler"
  chart      = "cluster-autoscaler"
  version    = var.chart_versions.cluster_autoscaler
  namespace  = "kube-system"

  values = [yamlencode({
    cloudProvider = "aws"
    awsRegion     = var.region
    autoDiscovery = { clusterName = var.cluster_name }
    rbac = {
      serviceAccount = {
        create      = true
        name        = "cluster-autoscaler"
        annotations = { "eks.amazonaws.com/role-arn" = var.cluster_autoscaler_role_arn }
      }
    }
    extraArgs = {
      "balance-similar-node-groups"   = true
      "expander"                      = "least-waste"
      "skip-nodes-with-local-storage" = false
    }
  })]

  lifecycle {
    precondition {
      condition     = var.cluster_autoscaler_role_arn != null
      error_message = "On EKS the Cluster Autoscaler needs cluster_autoscaler_role_arn."
    }
  }
}

# ---------------------------------------------------------------------------------------------
# MLflow tracking server and the official Apache Airflow chart
# ---------------------------------------------------------------------------------------------

resource "helm_release" "mlflow" {
  name       = "mlflow"
  repository = "https://community-charts.github.io/helm-charts"
  chart      = "mlflow"
  version    = var.chart_versions.mlflow
  namespace  = local.mlflow.namespace

  values = [yamlencode({
    image = { for key, value in var.mlflow_image : key => value if value != null }
    serviceAccount = {
      create = false
      name   = kubernetes_service_account_v1.this["mlflow"].metadata[0].name
    }
    service = { port = 5000 }
    backendStore = {
      databaseMigration = true
      postgres = {
        enabled  = true
        host     = var.database.host
        port     = var.database.port
        database = local.mlflow_db.database
      }
      existingDatabaseSecret = {
        name        = kubernetes_secret_v1.mlflow_database.metadata[0].name
        usernameKey = "username"
        passwordKey = "password"
      }
    }
    artifactRoot = {
      proxiedArtifactStorage = false
      s3                     = { enabled = var.cloud == "aws", bucket = var.artifacts_bucket, path = "mlflow" }
      gcs                    = { enabled = var.cloud == "gcp", bucket = var.artifacts_bucket, path = "mlflow" }
    }
    extraEnvVars = merge(
      { MLFLOW_SERVER_ALLOWED_HOSTS = join(",", [local.mlflow_host, "${local.mlflow_host}:5000", "mlflow.${local.mlflow.namespace}:5000", "mlflow:5000", "localhost:5000"]) },
      var.cloud == "aws" ? { AWS_DEFAULT_REGION = var.region } : {},
    )
  })]

  depends_on = [kubernetes_job_v1.database_bootstrap]
}

resource "helm_release" "airflow" {
  name       = "airflow"
  repository = "https://airflow.apache.org"
  chart      = "airflow"
  version    = var.chart_versions.airflow
  namespace  = local.airflow.namespace
  timeout    = 900

  values = [yamlencode({
    airflowVersion           = var.airflow_version
    defaultAirflowRepository = var.airflow_image.repository
    defaultAirflowTag        = var.airflow_image.tag
    executor                 = "KubernetesExecutor"
    # The metadata database is the managed PostgreSQL; no in-cluster database or broker.
    postgresql = { enabled = false }
    redis      = { enabled = false }
    data       = { metadataSecretName = kubernetes_secret_v1.airflow_metadata.metadata[0].name }
    env        = [for name in sort(keys(local.airflow_env)) : { name = name, value = local.airflow_env[name] }]
    # Every Airflow component runs as the one service account bound to the cloud identity.
    scheduler          = { serviceAccount = local.airflow_chart_service_account }
    triggerer          = { serviceAccount = local.airflow_chart_service_account, persistence = { enabled = false } }
    dagProcessor       = { serviceAccount = local.airflow_chart_service_account }
    apiServer          = { serviceAccount = local.airflow_chart_service_account }
    workers            = { serviceAccount = local.airflow_chart_service_account, persistence = { enabled = false } }
    migrateDatabaseJob = { serviceAccount = local.airflow_chart_service_account }
    createUserJob      = { serviceAccount = local.airflow_chart_service_account }
    webserver          = { defaultUser = { enabled = false } }
    # DAGs are baked into the image (docker/airflow); nothing is synced at run time.
    dags = {
      persistence = { enabled = false }
      gitSync     = { enabled = false }
    }
  })]

  depends_on = [kubernetes_job_v1.database_bootstrap, kubernetes_role_binding_v1.airflow_training]
}

locals {
  airflow_chart_service_account = {
    create = false
    name   = local.airflow.name
  }
  airflow_env = merge(
    {
      MLFLOW_TRACKING_URI = local.mlflow_tracking_uri
    },
    var.airflow_env,
  )
}

# ---------------------------------------------------------------------------------------------
# Platform objects rendered by the Python builders: the ServingRuntime tradewind-mlflow, the
# headless Service tradewind-trainer-workers and the PodMonitor of the model servers
# ---------------------------------------------------------------------------------------------

resource "kubernetes_manifest" "platform" {
  for_each = var.manifests_enabled ? local.manifests : {}

  manifest = each.value

  depends_on = [
    kubernetes_namespace_v1.this,
    helm_release.kserve,
    helm_release.kube_prometheus_stack,
  ]
}
