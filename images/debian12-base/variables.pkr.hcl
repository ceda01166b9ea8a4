# Inputs of the debian12-base template. Every value here is part of the build's input digest
# (ops/image_inputs.py), so the same inputs produce the same artifact (see docs/images.md).

variable "family" {
  type        = string
  default     = "debian12-base"
  description = "Image family; the artifact is <family>_<version>_amd64.tar.zst."
  validation {
    condition     = length(var.family) > 0 && length(trim(var.family, "abcdefghijklmnopqrstuvwxyz0123456789-")) == 0
    error_message = "The family must be lowercase letters, digits and dashes."
  }
}

variable "version" {
  type        = string
  description = "Semantic version of this build (MAJOR.MINOR.PATCH); monotonic per family, never reused."
  validation {
    condition     = length(split(".", var.version)) == 3 && length([for p in split(".", var.version) : p if length(p) > 0 && length(trim(p, "0123456789")) == 0]) == 3
    error_message = "The version must be semantic: MAJOR.MINOR.PATCH (digits only)."
  }
}

variable "suite" {
  type        = string
  default     = "bookworm"
  description = "Debian suite of the base (bookworm is Debian 12)."
  validation {
    condition     = contains(["bookworm"], var.suite)
    error_message = "The debian12-base family is built from the bookworm suite only."
  }
}

variable "mirror" {
  type        = string
  default     = "http://deb.debian.org/debian"
  description = "Debian mirror for debootstrap and apt. Ignored when snapshot is set."
  validation {
    condition     = substr(var.mirror, 0, 7) == "http://" || substr(var.mirror, 0, 8) == "https://" || substr(var.mirror, 0, 7) == "file://"
    error_message = "The mirror must be an http://, https:// or file:// URL."
  }
}

variable "snapshot" {
  type        = string
  default     = ""
  description = "Pin the base to an archive snapshot, e.g. 20251101T000000Z (empty: use the mirror as it is now)."
  validation {
    condition     = var.snapshot == "" || (length(var.snapshot) == 16 && substr(var.snapshot, 8, 1) == "T" && substr(var.snapshot, 15, 1) == "Z")
    error_message = "The snapshot must be empty or a timestamp like 20251101T000000Z."
  }
}

variable "snapshot_mirror" {
  type        = string
  default     = "http://snapshot.debian.org/archive/debian"
  description = "Base URL of the snapshot archive; the snapshot timestamp is appended."
}

variable "keyring" {
  type        = string
  default     = "/usr/share/keyrings/debian-archive-keyring.gpg"
  description = "Keyring debootstrap verifies the suite's Release file with."
}

variable "output_dir" {
  type        = string
  description = "Directory the artifact, its .sha256 and the Packer manifest are written to."
}

variable "work_dir" {
  type        = string
  description = "Scratch directory the root filesystem is assembled in (on a filesystem that allows device nodes)."
}

variable "source_date_epoch" {
  type        = string
  description = "Reproducible build time (seconds since the epoch): stamped, and the upper bound of every mtime."
  validation {
    condition     = length(var.source_date_epoch) > 0 && length(trim(var.source_date_epoch, "0123456789")) == 0
    error_message = "The source_date_epoch must be a non-negative integer."
  }
}

variable "git_commit" {
  type        = string
  default     = "unknown"
  description = "Commit of the image code the artifact is built from."
}

variable "template_digest" {
  type        = string
  description = "sha256 of this template's files (computed by ops/image_inputs.py), stamped into the image."
}

variable "zstd_level" {
  type        = number
  default     = 12
  description = "zstd compression level (single-threaded, so the output is deterministic)."
}
