# debian12-base: a minimal, Proxmox-ready LXC template (vztmpl) built from Debian bookworm.
#
# Packer drives the build with the null builder (no VM, no Docker): shell-local provisioners
# debootstrap a root filesystem, provision the baseline, stamp and clean it, and pack it as
# <family>_<version>_amd64.tar.zst. The post-processors turn the tarball into the build's
# artifact, write its sha256 and record both in a Packer manifest. Needs root (debootstrap).
#
# Normally run through `make image FAMILY=debian12-base VERSION=x.y.z` (ops/build_image.py),
# which computes template_digest, checks the catalog and appends the new entry.

locals {
  arch      = "amd64"
  mirror    = var.snapshot == "" ? var.mirror : "${var.snapshot_mirror}/${var.snapshot}"
  file_name = "${var.family}_${var.version}_${local.arch}.tar.zst"
  artifact  = "${var.output_dir}/${local.file_name}"
  rootfs    = "${var.work_dir}/rootfs"

  # Every provisioning step sees the same environment.
  environment = [
    "FAMILY=${var.family}",
    "VERSION=${var.version}",
    "SUITE=${var.suite}",
    "MIRROR=${local.mirror}",
    "SNAPSHOT=${var.snapshot}",
    "KEYRING=${var.keyring}",
    "ARCH=${local.arch}",
    "WORK_DIR=${var.work_dir}",
    "ROOTFS=${local.rootfs}",
    "OUTPUT_DIR=${var.output_dir}",
    "ARTIFACT=${local.artifact}",
    "FILES_DIR=${path.root}/files",
    "PACKAGES_FILE=${path.root}/packages.txt",
    "SOURCE_DATE_EPOCH=${var.source_date_epoch}",
    "GIT_COMMIT=${var.git_commit}",
    "TEMPLATE_DIGEST=${var.template_digest}",
    "ZSTD_LEVEL=${var.zstd_level}",
    "LC_ALL=C.UTF-8",
    "TZ=UTC",
  ]
  execute = ["/bin/bash", "-c", "{{.Vars}} /bin/bash -euo pipefail {{.Script}}"]
}

source "null" "rootfs" {
  communicator = "none"
}

build {
  name    = "debian12-base"
  sources = ["source.null.rootfs"]

  # 1. A pinned minimal Debian base.
  provisioner "shell-local" {
    environment_vars = local.environment
    execute_command  = local.execute
    scripts          = ["${path.root}/scripts/10-bootstrap.sh"]
  }

  # 2. The image baseline: packages, key-only SSH, no users, the stamp.
  provisioner "shell-local" {
    environment_vars = local.environment
    execute_command  = local.execute
    scripts          = ["${path.root}/scripts/20-baseline.sh"]
  }

  # 3. Nothing machine- or build-specific stays: host keys, machine-id, caches, logs.
  provisioner "shell-local" {
    environment_vars = local.environment
    execute_command  = local.execute
    scripts          = ["${path.root}/scripts/30-clean.sh"]
  }

  # 4. Proxmox vztmpl layout: a sorted, numeric-owner tar of ./ with clamped mtimes, zstd.
  provisioner "shell-local" {
    environment_vars = local.environment
    execute_command  = local.execute
    scripts          = ["${path.root}/scripts/40-pack.sh"]
  }

  post-processors {
    post-processor "artifice" {
      files = [local.artifact]
    }
    post-processor "checksum" {
      checksum_types = ["sha256"]
      output         = "${local.artifact}.{{.ChecksumType}}"
    }
    post-processor "manifest" {
      output     = "${var.output_dir}/packer-manifest.json"
      strip_path = true
      custom_data = {
        family          = var.family
        version         = var.version
        file_name       = local.file_name
        suite           = var.suite
        mirror          = local.mirror
        git_commit      = var.git_commit
        template_digest = var.template_digest
        source_date     = var.source_date_epoch
      }
    }
  }
}
