package phishing

// The word lists' literals (the openings of each phrase and of each of its
// alternatives) are looked for in a message's text in one pass, with an
// Aho-Corasick automaton, rather than with a substring search per literal:
// the lists hold several hundred of them, and searching for each one took
// most of the lists' time on ordinary mail.
//
// Every literal gets a number when a phrase is made. The phrases are
// package variables, so the set is complete once they are initialised, and
// init builds the automaton from it.
var (
	literalIDs  = map[string]int32{}
	literalList []string
	wordNeedles *needles
)

func init() { wordNeedles = newNeedles(literalList) }

// literalNumbers returns the numbers of lits, numbering new ones; nil for
// nil, which stands for "no literal set: always run".
func literalNumbers(lits []string) []int32 {
	if lits == nil {
		return nil
	}
	out := make([]int32, 0, len(lits))
	for _, l := range lits {
		id, ok := literalIDs[l]
		if !ok {
			id = int32(len(literalList))
			literalIDs[l] = id
			literalList = append(literalList, l)
		}
		out = append(out, id)
	}
	return out
}

// needles is the automaton: a complete transition table and, per state,
// the literals that end there. Bytes that occur in no literal share one
// class, so a row has one entry per byte the literals use (some sixty)
// rather than 256, and the table stays small enough for the cache.
type needles struct {
	class   [256]uint8
	classes int
	next    []int32 // state*classes + class
	out     [][]int32
	count   int
}

func newNeedles(lits []string) *needles {
	n := &needles{count: len(lits), classes: 1}
	for _, l := range lits {
		for i := 0; i < len(l); i++ {
			if n.class[l[i]] == 0 {
				n.class[l[i]] = uint8(n.classes)
				n.classes++
			}
		}
	}
	row := func() {
		for range n.classes {
			n.next = append(n.next, -1) // missing until the failure links fill it in
		}
		n.out = append(n.out, nil)
	}
	row() // the root, state 0
	for id, l := range lits {
		s := int32(0)
		for i := 0; i < len(l); i++ {
			e := int(s)*n.classes + int(n.class[l[i]])
			if n.next[e] < 0 {
				row()
				n.next[e] = int32(len(n.out) - 1)
			}
			s = n.next[e]
		}
		n.out[s] = append(n.out[s], int32(id))
	}
	// Breadth first, each state's missing edges become those of its
	// failure state, and it inherits the literals that end there.
	fail := make([]int32, len(n.out))
	var queue []int32
	for c := range n.classes {
		if t := n.next[c]; t > 0 {
			queue = append(queue, t)
		} else {
			n.next[c] = 0
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for c := range n.classes {
			e := int(s)*n.classes + c
			t := n.next[e]
			if t < 0 {
				n.next[e] = n.next[int(fail[s])*n.classes+c]
				continue
			}
			fail[t] = n.next[int(fail[s])*n.classes+c]
			n.out[t] = append(n.out[t], n.out[fail[t]]...)
			queue = append(queue, t)
		}
	}
	return n
}

// literalSet says which literals a text holds.
type literalSet []uint64

func (n *needles) scan(lower string) literalSet {
	found := make(literalSet, (n.count+63)/64)
	s := int32(0)
	for i := 0; i < len(lower); i++ {
		s = n.next[int(s)*n.classes+int(n.class[lower[i]])]
		for _, id := range n.out[s] {
			found[id/64] |= 1 << (id % 64)
		}
	}
	return found
}

// anyOf says whether the text holds one of ids; nil ids (no literal set)
// count as held.
func (f literalSet) anyOf(ids []int32) bool {
	if ids == nil {
		return true
	}
	for _, id := range ids {
		if f[id/64]&(1<<(id%64)) != 0 {
			return true
		}
	}
	return false
}
