//go:build tools

// Package tools pins the Kueue commands this module builds: the manager and the scheduler
// performance harness (its runner and minimalkueue), for the side-by-side benchmark.
package tools

import (
	_ "sigs.k8s.io/kueue/cmd/kueue"
	_ "sigs.k8s.io/kueue/test/performance/scheduler/minimalkueue"
	_ "sigs.k8s.io/kueue/test/performance/scheduler/runner"
)
