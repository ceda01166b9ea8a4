// Package info is the Pulumi bridge's description of bpg's Terraform provider as the project builds
// it: the two halves of bpg's muxed provider, the token names pulumi-proxmoxve 8.6.0 publishes them
// under, and the few resources whose Terraform id is not a string.
//
// Facts read (not copied) from upstream, in the Go module cache:
//   - bpg v0.112.0 main.go: the SDKv2 half is proxmoxtf/provider.ProxmoxVirtualEnvironment(), the
//     framework half fwprovider.New(version)(), served together through terraform-plugin-mux.
//   - pulumi-terraform-bridge v3.137.0 pkg/pf/tfbridge/extend.go (MuxShimWithPF) and main.go
//     (MainWithMuxer: the plugin needs the "mux" dispatch table that tfgen writes into the metadata).
//   - pkg/tfbridge/tokens/fixups.go (fixID): a settable id must be renamed and given a ComputeID.
package info

import (
	"context"
	"fmt"

	"github.com/bpg/terraform-provider-proxmox/fwprovider"
	sdkprovider "github.com/bpg/terraform-provider-proxmox/proxmoxtf/provider"
	pfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
)

const (
	// Package is the Pulumi package name; Version is the pulumi-proxmoxve release whose SDK the
	// program imports and whose schema this build reproduces.
	Package = "proxmoxve"
	Version = "8.6.0"
	// UpstreamVersion is bpg's release inside pulumi-proxmoxve 8.6.0 (kept in step with go.mod);
	// the framework half reports it as its own version (user agent).
	UpstreamVersion = "0.112.0"
)

// intIDResources have a settable numeric Terraform "id". Pulumi's id is always a string, so the
// setting is published as a string resourceId (name and type as pulumi-proxmoxve 8.6.0's SDK has
// them) and the id is computed from it (pkg/pf/internal/check/checks.go, resourceHasRegularID).
var intIDResources = []string{
	"proxmox_vm",
	"proxmox_cloned_vm",
	"proxmox_virtual_environment_vm2",
	"proxmox_virtual_environment_cloned_vm",
}

// Provider returns the bridge's ProviderInfo. metadata is the bridge-metadata.json tfgen wrote
// (nil while tfgen itself runs).
func Provider(metadata []byte) tfbridge.ProviderInfo {
	ctx := context.Background()
	if metadata == nil {
		metadata = []byte("{}")
	}
	prov := tfbridge.ProviderInfo{
		P: pfbridge.MuxShimWithPF(ctx,
			shimv2.NewProvider(sdkprovider.ProxmoxVirtualEnvironment()),
			fwprovider.New(UpstreamVersion)()),
		Name:             "proxmox",
		Version:          Version,
		DisplayName:      "Proxmox Virtual Environment (Samakia Fabric's build of bpg " + UpstreamVersion + ")",
		Publisher:        "Samakia Fabric",
		GitHubOrg:        "bpg",
		Repository:       "https://github.com/bpg/terraform-provider-proxmox",
		UpstreamRepoPath: ".",
		MetadataInfo:     tfbridge.NewProviderMetadata(metadata),
		Resources:        map[string]*tfbridge.ResourceInfo{},
		DataSources:      map[string]*tfbridge.DataSourceInfo{},
		Description:      "Proxmox VE resources from bpg/terraform-provider-proxmox through Pulumi's bridge.",
		Keywords:         []string{"pulumi", "proxmox", "proxmoxve"},
		License:          "Apache-2.0",
	}
	for _, name := range intIDResources {
		prov.Resources[name] = &tfbridge.ResourceInfo{
			Tok:       tokens.Type(token(Package, name, false)),
			Fields:    map[string]*tfbridge.SchemaInfo{"id": {Name: "resourceId", Type: "string"}},
			ComputeID: numericID("resourceId"),
		}
	}
	prov.MustComputeTokens(tfbridge.Strategy{
		Resource: func(tfName string, r *tfbridge.ResourceInfo) error {
			r.Tok = tokens.Type(token(Package, tfName, false))
			return nil
		},
		DataSource: func(tfName string, d *tfbridge.DataSourceInfo) error {
			d.Tok = tokens.ModuleMember(token(Package, tfName, true))
			return nil
		},
	})
	return prov
}

// numericID makes the Pulumi id from a number (or string) property.
func numericID(field resource.PropertyKey) tfbridge.ComputeID {
	return func(_ context.Context, state resource.PropertyMap) (resource.ID, error) {
		v, ok := state[field]
		if !ok {
			return "", fmt.Errorf("%s is missing from the state", field)
		}
		if v.IsSecret() {
			v = v.SecretValue().Element
		}
		switch {
		case v.IsNumber():
			return resource.ID(fmt.Sprintf("%d", int64(v.NumberValue()))), nil
		case v.IsString():
			return resource.ID(v.StringValue()), nil
		}
		return "", fmt.Errorf("%s is a %s, expected a number", field, v.TypeString())
	}
}
