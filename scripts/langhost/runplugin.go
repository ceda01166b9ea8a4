// RunPlugin for Samakia Fabric's Python language host: built together with
// scripts/engine/langhost/main.go (same package, copied beside it) into the language host's own
// engine-cache entry (see scripts/engine.sh), so that a change here rebuilds only the host, never the
// CLI.
//
// The engine runs a Python policy pack (`pulumi preview --policy-pack policy`) through the language
// host's RunPlugin. The base host (main.go) leaves it unimplemented, which makes every policy-pack
// run fail with "Unimplemented"; this file implements it.
package main

import (
	"errors"
	"fmt"
	"os/exec"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// RunPlugin runs a Python plugin, such as a policy pack, for the engine: `python <plugin dir> <args>`
// (the directory's __main__.py), in the engine's working directory and environment, with the
// virtualenv from the plugin's runtime options (PulumiPolicy.yaml, relative to the pack's root),
// streaming stdout (whose first line is the plugin's port) and stderr back, then its exit code. The
// same contract as upstream's host (read: pulumi/pulumi sdk/python/cmd/pulumi-language-python/main.go,
// pythonLanguageHost.RunPlugin).
func (h *host) RunPlugin(req *pulumirpc.RunPluginRequest, server pulumirpc.LanguageRuntime_RunPluginServer) error {
	py, env, err := pythonCmd(req.GetInfo())
	if err != nil {
		return err
	}
	dir := req.GetInfo().GetProgramDirectory()
	if dir == "" {
		return errors.New("RunPlugin: the request names no plugin directory")
	}
	closer, stdout, stderr, err := rpcutil.MakeRunPluginStreams(server, false)
	if err != nil {
		return err
	}
	defer closer.Close()

	args := append([]string{"-u", dir}, req.GetArgs()...)
	cmd := exec.CommandContext(server.Context(), py, args...)
	cmd.Dir = req.GetPwd()
	// The engine's environment first; the interpreter's (virtualenv) settings win over it.
	cmd.Env = append(append([]string{}, req.GetEnv()...), env...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	code := int32(0)
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			return fmt.Errorf("could not run %s %s: %w", py, dir, err)
		}
		code = int32(exitErr.ExitCode())
	}
	if err := closer.Close(); err != nil {
		return err
	}
	return server.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: code}})
}
