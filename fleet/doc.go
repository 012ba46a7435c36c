// Package fleet runs Fusebox across the replicas of many services over NATS
// with JetStream.
//
// An Agent (Join) runs in each instance of a service: once a second it
// publishes a compact snapshot of the instance's pipelines, it answers the
// hub's requests for the instance's recent events, and it watches the
// overrides KV bucket and applies the breaker overrides meant for its service
// or for itself. Without NATS it fails static: it keeps the overrides it
// has, reconnects with backoff and resyncs the whole bucket when back.
//
// A Hub consumes the snapshots into fleet state (service → pipeline →
// instances), merges latency histograms bucket by bucket, marks instances
// stale and gone on its clock, and writes overrides to the KV bucket with an
// audit entry on the audit stream.
//
// Subjects and JetStream names, with the default prefix "fusebox":
//
//	fusebox.snap.<service>.<instance>     snapshots, agent → hub (core NATS)
//	fusebox.events.<service>.<instance>   recent-events requests, hub → agent (request/reply)
//	fusebox.audit.<service>               audit entries (stream FUSEBOX_AUDIT)
//	KV bucket fusebox_overrides           keys <service>.<pipeline> (whole service)
//	                                      and <service>.<pipeline>.<instance>
//
// Service and instance names are 1 to 64 letters, digits, '-' or '_' (they
// are subject tokens). Pipeline names may also hold '.' and ':', written as
// "=2E" and "=3A" in KV keys.
//
// Service, pipeline and instance names are 1 to 64 letters, digits, '-' or
// '_' (they are subject tokens and KV key parts).
package fleet
