package main

import (
	"context"
	"log/slog"
	"os"
	"syscall"
	"testing"
)

func TestASecondSignalExitsAtOnce(t *testing.T) {
	sigs := make(chan os.Signal, 2)
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exited := make(chan struct{})
	returned := make(chan struct{})
	go func() {
		onSignals(sigs, done, cancel, func() { close(exited) }, slog.New(slog.DiscardHandler))
		close(returned)
	}()
	sigs <- syscall.SIGTERM
	<-ctx.Done() // the first signal starts the graceful shutdown
	select {
	case <-exited:
		t.Fatal("the first signal exited at once")
	default:
	}
	sigs <- os.Interrupt
	<-exited // the second one exits
	<-returned
}

func TestNoSignalMeansNoExit(t *testing.T) {
	sigs := make(chan os.Signal, 1)
	done := make(chan struct{})
	returned := make(chan struct{})
	go func() {
		onSignals(sigs, done, func() { t.Error("cancelled without a signal") }, func() { t.Error("exited without a signal") }, slog.New(slog.DiscardHandler))
		close(returned)
	}()
	close(done)
	<-returned
}
