// Command conformance dumps, from bpg/terraform-provider-proxmox's own Go packages, the schema
// facts a Pulumi bridge turns into diff behaviour: for every attribute path of the resources we
// map, whether a change forces a new resource, whether it is computed, optional or required, its
// default and its item bounds. The stand-in proxmoxve provider (providers/proxmoxve.py) derives
// its replace keys, defaults and computed keys from this dump (providers/conformance.py).
//
// Two schema systems live in that module and both are handled:
//   - SDKv2 (proxmoxtf/provider.ProxmoxVirtualEnvironment().ResourcesMap): ForceNew, Computed,
//     Optional, Required, Default, MaxItems, MinItems are plain struct fields; the container's
//     CustomizeDiff (proxmoxtf/resource/container/container.go, Container) adds conditional
//     replacements that a schema cannot show: they are recorded as "customize_diff".
//   - plugin framework (fwprovider.New(...)().Resources): a replacement is a plan modifier
//     (RequiresReplace / RequiresReplaceIf...), a default is a defaults.* value evaluated here.
//
// Usage: conformance RESOURCE... > dump.json (names without the provider prefix are accepted).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"

	"github.com/bpg/terraform-provider-proxmox/fwprovider"
	sdkprovider "github.com/bpg/terraform-provider-proxmox/proxmoxtf/provider"
	fwresource "github.com/hashicorp/terraform-plugin-framework/resource"
	fwschema "github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/defaults"
	sdkschema "github.com/hashicorp/terraform-plugin-sdk/v2/helper/schema"
)

const prefix = "proxmox_virtual_environment"

// Attr is one attribute path's facts. Paths use "." between nested names; a list or set of
// objects adds no index (e.g. "disk.size").
type Attr struct {
	Path        string   `json:"path"`
	Kind        string   `json:"kind"`
	Required    bool     `json:"required,omitempty"`
	Optional    bool     `json:"optional,omitempty"`
	Computed    bool     `json:"computed,omitempty"`
	ForceNew    bool     `json:"force_new,omitempty"`
	ReplaceIf   []string `json:"replace_if,omitempty"`
	Default     any      `json:"default,omitempty"`
	MaxItems    int      `json:"max_items,omitempty"`
	MinItems    int      `json:"min_items,omitempty"`
	Sensitive   bool     `json:"sensitive,omitempty"`
	UseState    bool     `json:"use_state_for_unknown,omitempty"`
	ListBounded []string `json:"list_validators,omitempty"`
}

// Resource is one resource's dump.
type Resource struct {
	Name          string `json:"name"`
	Framework     string `json:"framework"`
	CustomizeDiff bool   `json:"customize_diff,omitempty"`
	Attributes    []Attr `json:"attributes"`
}

// Dump is the whole file.
type Dump struct {
	Module    string     `json:"module"`
	Version   string     `json:"version"`
	Resources []Resource `json:"resources"`
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: conformance MODULE_VERSION RESOURCE...")
		os.Exit(2)
	}
	ctx := context.Background()
	dump := Dump{Module: "github.com/bpg/terraform-provider-proxmox", Version: os.Args[1]}
	sdk := sdkprovider.ProxmoxVirtualEnvironment().ResourcesMap
	fw := frameworkResources(ctx)
	for _, name := range os.Args[2:] {
		if !strings.HasPrefix(name, "proxmox_") {
			name = prefix + "_" + name
		}
		var res Resource
		if r, ok := sdk[name]; ok {
			res = Resource{Name: name, Framework: "sdkv2", CustomizeDiff: r.CustomizeDiff != nil}
			walkSDK("", r.Schema, &res.Attributes)
		} else if r, ok := fw[name]; ok {
			res = Resource{Name: name, Framework: "plugin-framework"}
			var resp fwresource.SchemaResponse
			r.Schema(ctx, fwresource.SchemaRequest{}, &resp)
			walkFW(ctx, "", resp.Schema.Attributes, resp.Schema.Blocks, &res.Attributes)
		} else {
			fmt.Fprintf(os.Stderr, "conformance: no resource %q in bpg %s\n", name, os.Args[1])
			os.Exit(1)
		}
		sort.Slice(res.Attributes, func(i, j int) bool { return res.Attributes[i].Path < res.Attributes[j].Path })
		dump.Resources = append(dump.Resources, res)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(dump); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func frameworkResources(ctx context.Context) map[string]fwresource.Resource {
	out := map[string]fwresource.Resource{}
	for _, ctor := range fwprovider.New("conformance")().Resources(ctx) {
		r := ctor()
		var meta fwresource.MetadataResponse
		r.Metadata(ctx, fwresource.MetadataRequest{ProviderTypeName: prefix}, &meta)
		out[meta.TypeName] = r
	}
	return out
}

func join(base, name string) string {
	if base == "" {
		return name
	}
	return base + "." + name
}

// -- SDKv2 -------------------------------------------------------------------------------------

func walkSDK(base string, m map[string]*sdkschema.Schema, out *[]Attr) {
	for name, s := range m {
		path := join(base, name)
		a := Attr{
			Path: path, Kind: s.Type.String(), Required: s.Required, Optional: s.Optional,
			Computed: s.Computed, ForceNew: s.ForceNew, MaxItems: s.MaxItems, MinItems: s.MinItems,
			Sensitive: s.Sensitive,
		}
		if s.Default != nil {
			a.Default = s.Default
		} else if s.DefaultFunc != nil {
			// e.g. the container's ssh keys default to an empty list through a DefaultFunc
			if v, err := s.DefaultFunc(); err == nil && v != nil {
				a.Default = v
			}
		}
		*out = append(*out, a)
		if r, ok := s.Elem.(*sdkschema.Resource); ok {
			walkSDK(path, r.Schema, out)
		}
	}
}

// -- plugin framework ----------------------------------------------------------------------------

type described interface {
	Description(context.Context) string
}

func walkFW(ctx context.Context, base string, attrs map[string]fwschema.Attribute, blocks map[string]fwschema.Block, out *[]Attr) {
	for name, at := range attrs {
		path := join(base, name)
		a := Attr{
			Path: path, Kind: kindOf(at), Required: at.IsRequired(), Optional: at.IsOptional(),
			Computed: at.IsComputed(), Sensitive: at.IsSensitive(),
		}
		planModifiers(ctx, at, &a)
		a.Default = defaultOf(ctx, at)
		a.ListBounded = validatorDescriptions(ctx, at)
		*out = append(*out, a)
		if nested, ok := nestedAttributes(at); ok {
			walkFW(ctx, path, nested, nil, out)
		}
	}
	for name, b := range blocks {
		path := join(base, name)
		a := Attr{Path: path, Kind: kindOf(b)}
		planModifiers(ctx, b, &a)
		a.ListBounded = validatorDescriptions(ctx, b)
		*out = append(*out, a)
		obj := b.GetNestedObject()
		if nb, ok := obj.(fwschema.NestedBlockObject); ok {
			walkFW(ctx, path, nb.Attributes, nb.Blocks, out)
		}
	}
}

func kindOf(v any) string {
	return strings.TrimPrefix(fmt.Sprintf("%T", v), "schema.")
}

// planModifiers reads the PlanModifiers field (each attribute type has its own element type,
// so reflection rather than a type switch per kind).
func planModifiers(ctx context.Context, v any, a *Attr) {
	field := reflect.Indirect(reflect.ValueOf(v)).FieldByName("PlanModifiers")
	if !field.IsValid() {
		return
	}
	for i := 0; i < field.Len(); i++ {
		m := field.Index(i).Interface()
		typ := fmt.Sprintf("%T", m)
		desc := ""
		if d, ok := m.(described); ok {
			desc = d.Description(ctx)
		}
		switch {
		case isUnconditional(desc):
			// RequiresReplace() is RequiresReplaceIf with an always-true function and this
			// stock description (terraform-plugin-framework, */requires_replace.go).
			a.ForceNew = true
		case strings.Contains(strings.ToLower(typ), "replace") || strings.Contains(desc, "destroy and recreate"):
			a.ReplaceIf = append(a.ReplaceIf, typ+": "+desc)
		case strings.Contains(typ, "useStateForUnknown"):
			a.UseState = true
		}
	}
}

func isUnconditional(desc string) bool {
	return desc == "If the value of this attribute changes, Terraform will destroy and recreate the resource."
}

func validatorDescriptions(ctx context.Context, v any) []string {
	field := reflect.Indirect(reflect.ValueOf(v)).FieldByName("Validators")
	if !field.IsValid() {
		return nil
	}
	var out []string
	for i := 0; i < field.Len(); i++ {
		if d, ok := field.Index(i).Interface().(described); ok {
			desc := d.Description(ctx)
			if strings.Contains(desc, "list must contain") || strings.Contains(desc, "set must contain") {
				out = append(out, desc)
			}
		}
	}
	return out
}

func nestedAttributes(at fwschema.Attribute) (map[string]fwschema.Attribute, bool) {
	switch t := at.(type) {
	case fwschema.SingleNestedAttribute:
		return t.Attributes, true
	case fwschema.ListNestedAttribute:
		return t.NestedObject.Attributes, true
	case fwschema.SetNestedAttribute:
		return t.NestedObject.Attributes, true
	case fwschema.MapNestedAttribute:
		return t.NestedObject.Attributes, true
	}
	return nil, false
}

func defaultOf(ctx context.Context, at fwschema.Attribute) any {
	switch t := at.(type) {
	case fwschema.StringAttribute:
		return evalDefault(t.Default, func(d defaults.String) any {
			var r defaults.StringResponse
			d.DefaultString(ctx, defaults.StringRequest{}, &r)
			return r.PlanValue.ValueString()
		})
	case fwschema.BoolAttribute:
		return evalDefault(t.Default, func(d defaults.Bool) any {
			var r defaults.BoolResponse
			d.DefaultBool(ctx, defaults.BoolRequest{}, &r)
			return r.PlanValue.ValueBool()
		})
	case fwschema.Int64Attribute:
		return evalDefault(t.Default, func(d defaults.Int64) any {
			var r defaults.Int64Response
			d.DefaultInt64(ctx, defaults.Int64Request{}, &r)
			return r.PlanValue.ValueInt64()
		})
	case fwschema.Float64Attribute:
		return evalDefault(t.Default, func(d defaults.Float64) any {
			var r defaults.Float64Response
			d.DefaultFloat64(ctx, defaults.Float64Request{}, &r)
			return r.PlanValue.ValueFloat64()
		})
	}
	if f := reflect.ValueOf(at).FieldByName("Default"); f.IsValid() && !f.IsNil() {
		return fmt.Sprintf("<%T>", f.Interface())
	}
	return nil
}

func evalDefault[D any](d D, eval func(D) any) any {
	if reflect.ValueOf(&d).Elem().IsNil() {
		return nil
	}
	return eval(d)
}
