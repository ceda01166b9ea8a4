// Command tfgen writes the bridged provider's schema.json and bridge-metadata.json (the mux
// dispatch table the plugin cannot start without): `tfgen schema --skip-examples --out DIR`.
package main

import (
	pftfgen "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfgen"

	"samakia.dev/fabric/proxmoxve/info"
)

func main() {
	pftfgen.MainWithMuxer(info.Package, info.Provider(nil))
}
