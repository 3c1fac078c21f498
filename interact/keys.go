package interact

// keyMemory remembers idempotency verdicts per actor: the verdicts of
// each actor's last perActor keyed commands, for the actors most recently
// active, so that the projection can answer a repeated key with its first
// verdict and apply it as a no-op (state.apply).
//
// Keys are scoped to the actor (Event.Key is "actor/key"), and a client
// retries only its own recent unanswered commands, so the memory is
// scoped the same way: one actor's flood pushes out only that actor's
// older keys, never another's. Every actor is treated alike: viewers,
// staff and the system actor (staff commands also carry their key as
// JetStream's Nats-Msg-Id, which drops a repeat within the stream's
// duplicate window before it reaches the log).
//
// Two bounds cap the whole room's memory: maxActors actors and maxKeys
// verdicts. Beyond either, the least recently active actor (the one whose
// newest verdict is oldest) is forgotten entirely. So an actor's last
// perActor keyed commands stay remembered until, after its last command,
// maxActors other actors have been active or the actors active since hold
// more than maxKeys-perActor verdicts (at least (maxKeys-perActor)/perActor
// of them, each holding at most perActor), whatever the room's rate. Its
// (perActor+1)-th newest key is forgotten: a retry of it is applied anew.
//
// The memory is part of the projection: only apply changes it, in log
// order, so every node that applies the same log remembers the same keys
// and forgets them in the same order. Looking a key up does not make an
// actor more recent.
type keyMemory struct {
	perActor, maxActors, maxKeys int

	results map[string]Result     // key -> verdict, every remembered key
	actors  map[string]*actorKeys // actor id -> its keys
	oldest  *actorKeys            // least recently active; evicted first
	newest  *actorKeys
}

// actorKeys is one actor's remembered keys, a ring: oldest first from pos.
type actorKeys struct {
	id           string
	keys         []string
	pos          int
	older, newer *actorKeys
}

func newKeyMemory(perActor, maxActors, maxKeys int) keyMemory {
	return keyMemory{
		perActor: min(perActor, maxKeys), maxActors: maxActors, maxKeys: maxKeys,
		results: map[string]Result{}, actors: map[string]*actorKeys{},
	}
}

// verdict returns the remembered verdict of key.
func (m *keyMemory) verdict(key string) (Result, bool) {
	r, ok := m.results[key]
	return r, ok
}

// remember records key's verdict for actor, which becomes the most
// recently active, and forgets what the bounds no longer hold.
func (m *keyMemory) remember(actor, key string, res Result) {
	if key == "" || m.perActor <= 0 || m.maxActors <= 0 {
		return
	}
	if _, ok := m.results[key]; ok {
		return // remembered already (for another actor: ids that run into keys)
	}
	a := m.actors[actor]
	if a == nil {
		a = &actorKeys{id: actor}
		m.actors[actor] = a
	} else {
		m.unlink(a)
	}
	m.link(a)
	if len(a.keys) < m.perActor {
		a.keys = append(a.keys, key)
	} else {
		delete(m.results, a.keys[a.pos])
		a.keys[a.pos] = key
		a.pos = (a.pos + 1) % len(a.keys)
	}
	m.results[key] = res
	for len(m.actors) > m.maxActors || len(m.results) > m.maxKeys {
		m.forget(m.oldest) // never a: it is the newest, and holds at most maxKeys
	}
}

// forget drops an actor and its keys.
func (m *keyMemory) forget(a *actorKeys) {
	for _, k := range a.keys {
		delete(m.results, k)
	}
	m.unlink(a)
	delete(m.actors, a.id)
}

// link makes a the newest actor.
func (m *keyMemory) link(a *actorKeys) {
	a.older, a.newer = m.newest, nil
	if m.newest != nil {
		m.newest.newer = a
	} else {
		m.oldest = a
	}
	m.newest = a
}

func (m *keyMemory) unlink(a *actorKeys) {
	if a.older != nil {
		a.older.newer = a.newer
	} else {
		m.oldest = a.newer
	}
	if a.newer != nil {
		a.newer.older = a.older
	} else {
		m.newest = a.older
	}
	a.older, a.newer = nil, nil
}

// each calls fn for every actor, least recently active first, with its
// keys oldest first: the order in which remembering them again rebuilds
// this memory, evictions to come included.
func (m *keyMemory) each(fn func(actor string, keys []string)) {
	for a := m.oldest; a != nil; a = a.newer {
		keys := make([]string, 0, len(a.keys))
		for i := range a.keys {
			keys = append(keys, a.keys[(a.pos+i)%len(a.keys)])
		}
		fn(a.id, keys)
	}
}
