// Package wireprovider is only a wrapper module: its go.mod pins bpg/terraform-provider-proxmox at
// the version scripts/proxmoxve/ bridges (v0.112.0), with hashicorp's own SDKv2 (no bridge fork), so
// that `go build github.com/bpg/terraform-provider-proxmox` in this directory builds upstream's own
// main, unchanged. `go install ...@version` cannot, because the proxy does not serve the version
// list. scripts/wire.sh copies this directory into the cache and builds there.
package wireprovider
