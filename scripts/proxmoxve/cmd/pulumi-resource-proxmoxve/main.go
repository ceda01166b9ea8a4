// Command pulumi-resource-proxmoxve is the resource plugin: bpg's provider served through Pulumi's
// bridge, with the schema and metadata tfgen wrote embedded (scripts/proxmoxve.sh builds tfgen,
// runs it into this directory, then builds this).
package main

import (
	"context"
	_ "embed"

	pfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"

	"samakia.dev/fabric/proxmoxve/info"
)

//go:embed schema.json
var schema []byte

//go:embed bridge-metadata.json
var metadata []byte

func main() {
	ctx := context.Background()
	exitWithParent()
	pfbridge.MainWithMuxer(ctx, info.Package, info.Provider(metadata), schema)
}
