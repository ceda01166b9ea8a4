// Exit with the engine, for Samakia Fabric's Python language host: built together with
// scripts/engine/langhost/main.go (see runplugin.go).
//
// Nothing tells a plugin that the engine was SIGKILLed: the host kept serving, parented to init,
// for good. Upstream's plugins find out through a health check of the engine's address every 5
// minutes (read: pulumi/pulumi sdk/v3 v3.272.0, go/common/util/rpcutil/health.go, Healthcheck,
// which go/pulumi/provider/main.go starts with 5*time.Minute). The engine is the host's parent,
// so the host watches that instead, once a second: when the engine dies the host is re-parented
// and os.Getppid changes. Not PR_SET_PDEATHSIG: it fires when the parent's forking *thread* ends,
// and the Go runtime of the CLI may end threads at any time.
package main

import (
	"os"
	"syscall"
	"time"
)

func init() {
	go exitWithEngine(os.Getppid(), time.Second)
}

// exitWithEngine ends the host once its parent is no longer engine. The engine starts every plugin
// as the leader of a process group of its own (sdk/v3 go/common/util/cmdutil/child_unix.go,
// RegisterProcessGroup), and the program and policy packs the host runs stay in that group, so
// killing the group ends them with the host: without their engine they have nobody to answer. A
// host that leads no group (started by hand) leaves its caller's group alone and only exits.
func exitWithEngine(engine int, every time.Duration) {
	for range time.Tick(every) {
		if os.Getppid() == engine {
			continue
		}
		if syscall.Getpgrp() == os.Getpid() {
			_ = syscall.Kill(0, syscall.SIGKILL) // 0: the caller's process group, this host included
		}
		os.Exit(1)
	}
}
