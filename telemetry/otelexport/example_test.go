package otelexport_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/telemetry/otelexport"
)

// A Tracing observer turns each call into one span, its attempts and
// retries into span events.
func ExampleNewTracing() {
	recorder := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	defer func() { _ = tp.Shutdown(context.Background()) }()

	tracing, err := otelexport.NewTracing(tp, otelexport.TracingConfig{})
	if err != nil {
		panic(err)
	}
	retry, err := resilience.NewRetry(resilience.RetryConfig{
		MaxAttempts: 2,
		Backoff:     resilience.BackoffConfig{Base: time.Millisecond, Jitter: resilience.JitterNone},
	})
	if err != nil {
		panic(err)
	}
	p, err := resilience.New("payments", resilience.Config{
		Policies:  []resilience.Policy{retry},
		Observers: []resilience.Observer{tracing},
	})
	if err != nil {
		panic(err)
	}
	attempt := 0
	_ = resilience.Run(context.Background(), p, func(context.Context) error {
		if attempt++; attempt == 1 {
			return errors.New("connection reset")
		}
		return nil
	})

	for _, span := range recorder.Ended() {
		fmt.Println(span.Name(), span.Status().Code)
		for _, e := range span.Events() {
			fmt.Println(" ", e.Name)
		}
	}
	// Output:
	// fusebox.call Unset
	//   fusebox.attempt
	//   fusebox.retry_scheduled
	//   fusebox.attempt
}
