package templates

// Switches is the live state and kill switches of a pipeline's policies.
type Switches struct {
	Policies []PolicyState
	// LoggedIn shows the forms, with CSRF as their token.
	LoggedIn bool
	CSRF     string
}

// PolicyState is one policy of a pipeline.
type PolicyState struct {
	// Name is the kind ("retry", "adaptive_limit", …) or the policy's
	// description for one without a kill switch.
	Name string
	// Live is its state now ("limit 12, 3 in flight"), or "".
	Live string
	// Off is set while a kill switch holds it off, OffText saying by whom,
	// why and until when.
	Off     bool
	OffText string
	// Action is the kill switch form's URL; "" when it has none.
	Action string
	// Chart, when set, draws the policy's value over its latest changes
	// (the adaptive limit).
	Chart *Spark
}
