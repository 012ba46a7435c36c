package templates

// FleetPage is the hub's fleet page: every service with its pipelines.
type FleetPage struct {
	Services []FleetService
}

// FleetService is one service: its instance counts and its pipelines over
// every instance. Its id is stable: live updates replace it whole.
type FleetService struct {
	Name, URL string
	// Up, Stale, Gone count the instances by state ("3").
	Up, Stale, Gone string
	// Open sums the open breakers ("2 of 9 breakers open"), "" when none.
	Open      string
	Pipelines []FleetPipeline
	// Instances are listed on the service page only.
	Instances []FleetInstance
}

// FleetPipeline is one pipeline of a service over its instances.
type FleetPipeline struct {
	Service, Name string
	// OpenText is "2 of 9 open" ("no breaker" without one); AnyOpen is
	// set when some are; HasBreaker when the pipeline has a breaker.
	OpenText   string
	AnyOpen    bool
	HasBreaker bool
	Strip      []FleetBreaker
	// Figures over the fleet, formatted; Window names their span and
	// LatencyWindow that of the percentiles.
	CallsPerSec, Success, P50, P99, RetriesPerSec, RejectedPerSec string
	Window, LatencyWindow                                         string
	// PoliciesOff names the kinds of policy switched off on some
	// instances ("retry off on 3 of 3"); "" when none.
	PoliciesOff string
}

// FleetBreaker is one instance's breaker in a pipeline's strip.
type FleetBreaker struct {
	Instance, Word, Class string
	// Title says the instance, the state and the fleet override applied.
	Title string
	URL   string
	// Wide is set for a cell that counts the instances in a state.
	Wide bool
}

// FleetInstance is a row of a service's instances.
type FleetInstance struct {
	ID, State, LastSeen, Age, URL string
	// Lost counts the snapshots that did not arrive ("0").
	Lost string
}

// FleetServicePage is a service's page: its section, the overrides in
// force and, for an admin, the scoped controls.
type FleetServicePage struct {
	Service   FleetService
	Overrides []FleetOverride
	// Controls is set for a logged-in admin; CSRF is the session's token.
	Controls bool
	CSRF     string
	// InstanceIDs are the scopes the controls offer besides the service.
	InstanceIDs []string
	// Policies are the kill switches of the service's pipelines.
	Policies []FleetPolicy
}

// FleetPolicy is a kind of policy of a service's pipeline: what its
// instances run and the fleet's kill switches.
type FleetPolicy struct {
	Pipeline, Policy string
	// Text counts the instances running it off ("off on 2 of 3 (by the
	// fleet)"); Off is set when some do.
	Text string
	Off  bool
	// Switches are the fleet's switches in force, each with a form to
	// switch it on.
	Switches []FleetSwitch
	// Action is the forms' URL; Scopes those without a fleet switch yet,
	// offered by the form that switches it off (none: no such form).
	Action string
	Scopes []FleetScope
}

// FleetSwitch is a fleet kill switch in the bucket.
type FleetSwitch struct {
	// Scope is "service" or "instance ID"; Instance the instance, "" for
	// the service.
	Scope, Instance      string
	Actor, Reason, Until string
}

// FleetScope is an option of a scope select: Value "" for the service.
type FleetScope struct {
	Value, Label string
}

// FleetOverride is an override in the bucket.
type FleetOverride struct {
	Pipeline, Scope, State, Actor, Reason, Until, At string
}

// FleetInstancePage is one instance: its breakers and, fetched from it on
// demand, the recent events of one pipeline.
type FleetInstancePage struct {
	Service, Instance, State, LastSeen string
	ServiceURL                         string
	Breakers                           []FleetBreaker
	// Policies are the instance's kinds of policy as it reports them.
	Policies  []InstancePolicy
	Pipelines []FleetPipelineLink
	Pipeline  string
	Events    []FleetEvent
	// EventsError says why there are no events (the instance did not
	// answer).
	EventsError string
}

// InstancePolicy is a kind of policy of one pipeline on one instance.
type InstancePolicy struct {
	Pipeline, Policy string
	// State is "on", "off by the fleet" or "off by its own switch".
	State string
	Off   bool
}

// FleetPipelineLink links to an instance page showing a pipeline's events.
type FleetPipelineLink struct {
	Name, URL string
	Current   bool
}

// FleetEvent is one recent event of an instance.
type FleetEvent struct {
	Time, Kind, Call, Attempt, Outcome, Duration, Detail string
}

// FleetAudit is the audit page of the fleet, newest first.
type FleetAudit struct {
	Entries []FleetAuditEntry
}

// FleetAuditEntry is one entry of the audit stream.
type FleetAuditEntry struct {
	Seq, Time, Actor, Action, Service, ServiceURL, Pipeline, Scope, State, Reason, Until string
}

// scopeID names a scope in test ids: the instance, or "service".
func scopeID(instance string) string {
	if instance == "" {
		return "service"
	}
	return instance
}
