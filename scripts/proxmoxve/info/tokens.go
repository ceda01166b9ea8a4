package info

import (
	"strings"
	"unicode"
)

// The naming rule pulumi-proxmoxve 8.x publishes bpg's resources under, derived from the tokens its
// Python SDK (pulumi_proxmoxve 8.6.0) registers; tests/provider/test_schema.py holds every token
// of that SDK against this rule. bpg has two families of names:
//
//	proxmox_sdn_zone_vlan                     -> sdn/zone/vlan:Vlan             (current)
//	proxmox_virtual_environment_container     -> index/containerLegacy:ContainerLegacy
//	proxmox_virtual_environment_sdn_zone_vlan -> sdn/zone/vlanLegacy:VlanLegacy (the old names)
//
// The words before the last are the module path ("index" when there are none); data sources take a
// "get" prefix on the last word.
const (
	tfPrefix     = "proxmox_"
	legacyPrefix = "virtual_environment_"
)

// token returns the Pulumi token for a Terraform resource (function=false) or data source name.
func token(pkg, tfName string, function bool) string {
	rest := strings.TrimPrefix(tfName, tfPrefix)
	legacy := strings.HasPrefix(rest, legacyPrefix)
	rest = strings.TrimPrefix(rest, legacyPrefix)

	words := strings.Split(rest, "_")
	last := words[len(words)-1]
	module := "index"
	if len(words) > 1 {
		module = strings.Join(words[:len(words)-1], "/")
	}
	if function {
		last = "get" + upperFirst(last)
	}
	if legacy {
		last += "Legacy"
	}
	member := last
	if !function {
		member = upperFirst(last)
	}
	return pkg + ":" + module + "/" + lowerFirst(last) + ":" + member
}

func upperFirst(s string) string {
	r := []rune(s)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

func lowerFirst(s string) string {
	r := []rune(s)
	r[0] = unicode.ToLower(r[0])
	return string(r)
}
