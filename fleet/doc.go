// Package fleet runs Fusebox across the replicas of many services over NATS
// with JetStream.
//
// An Agent (Join) runs in each instance of a service: once a second it
// publishes a compact snapshot of the instance's pipelines, it answers the
// hub's requests for the instance's recent events, and it watches the
// overrides KV bucket and applies the breaker overrides and kill switches
// meant for its service or for itself. Without NATS it fails static: it
// keeps the overrides it has, reconnects with backoff and resyncs the whole
// bucket when back.
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
//	KV bucket fusebox_overrides           breakers: <service>.<pipeline> (whole service)
//	                                      and <service>.<pipeline>.<instance>;
//	                                      kill switches: <service>.<pipeline>.policy=<policy>
//	                                      and <service>.<pipeline>.policy=<policy>.<instance>
//
// Service, instance and pipeline names: service and instance names are 1
// to 64 letters, digits, '-' or '_' (they are subject tokens and KV key
// parts). Pipeline names may also hold '.' and ':', written as "=2E" and
// "=3A" in KV keys.
//
// # Kill switches
//
// A fleet kill switch (an Override with Policy set) turns a kind of policy
// of a pipeline off ("retry", "hedge", "rate_limiter", …), on every
// instance of a service or on one, until released or until its end. It
// lives in the same bucket as the breaker overrides, the policy in the key,
// rather than in a bucket of its own: one watch per agent carries both, so
// the resync after a reconnection, failing static and readiness (ready once
// the bucket is applied) hold for both with no second copy of that code,
// and a NATS account that lets an agent read the overrides bucket (as
// deploy/nats/fleet.conf does) needs no new permission. The policy token
// "policy=<name>" cannot be mistaken for an instance, whose name holds no
// '='. Agents built before kill switches count such entries as unreadable
// and ignore them. Hubs read every snapshot version up to their own, but a
// hub built before version 3 drops the snapshots of newer agents; so a
// fleet upgrades its hubs first, then its agents, and switches policies off
// from the hub once every agent is upgraded.
//
// Snapshots (format version 3) carry per pipeline the kinds of policy it
// has, those off and those the fleet switched off (PolicySet), so the hub
// shows what each instance runs, not what it was asked to, and rejections
// by five reasons (concurrency_limit is new in version 3); a hub reads
// versions 1 and 2 too (as pipelines without such policies, and without
// concurrency_limit rejections).
//
// # The fleet's over the instance's own
//
// Breaker overrides and kill switches layer alike, on one code path (the
// agent's layer): where an instance's own decision (its dashboard's or
// API's breaker override, or kill switch) and a fleet one on the same
// breaker or policy meet, the fleet's wins while it lasts. The agent puts
// the fleet's in force (again, should anything replace it), and the app
// refuses to change that breaker or policy locally (409, naming the
// fleet's; its pipeline page says so, with no form: Agent.Holds tells
// what the fleet holds). When the fleet's ends (released or run out) the
// agent, at its next pass (within a second), puts back the instance's own
// decision it displaced, if that has not run out meanwhile, else lets the
// breaker decide again or switches the policy on; until that pass the app
// still refuses local changes, so none is undone by it (a property test,
// TestFleetOverridesRunAsTheLayersSayAfterEveryPass, checks the layers of
// a breaker and of a policy). An instance's own decision outlives a
// restart in its store; a fleet one in the bucket (KV is durable), so a
// restarted instance gets both back, the fleet's on top.
package fleet
