package main

import (
	"context"
	"log/slog"
	"os"
)

// onSignals cancels the app at the first signal, so that it shuts down
// gracefully, and calls exit at the second: an operator who asks twice
// does not wait for the grace period. It returns when done is closed.
func onSignals(sigs <-chan os.Signal, done <-chan struct{}, cancel context.CancelFunc, exit func(), log *slog.Logger) {
	select {
	case s := <-sigs:
		log.Info("shutting down; a second signal exits at once", "signal", s.String())
		cancel()
	case <-done:
		return
	}
	select {
	case s := <-sigs:
		log.Warn("second signal: exiting without waiting for in-flight requests", "signal", s.String())
		exit()
	case <-done:
	}
}
