package main

import (
	"os"
	"time"
)

// exitWithParent ends the plugin within a second of its engine's death. The SDK's own health check
// (sdk/go/common/util/rpcutil/health.go, started from the provider's main) polls only every
// 5 minutes, so a SIGKILLed `pulumi up` would leave the plugin running that long, parented to
// init. PR_SET_PDEATHSIG is not used: it fires when the parent's *thread* that started us exits,
// and the Go runtime of the CLI may retire threads.
func exitWithParent() {
	parent := os.Getppid()
	go func() {
		for range time.Tick(time.Second) {
			if os.Getppid() != parent {
				os.Exit(1)
			}
		}
	}()
}
