package analyzers

import (
	"sync"
	"sync/atomic"
	"testing"
)

type keyA int
type keyB int

func TestDerived(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, m *Message)
	}{
		{"computed once for many goroutines", func(t *testing.T, m *Message) {
			var calls atomic.Int32
			var wg sync.WaitGroup
			got := make([]any, 16)
			for i := range got {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got[i] = m.Derived(keyA(0), func() any { calls.Add(1); return len(m.Text) })
				}()
			}
			wg.Wait()
			if calls.Load() != 1 {
				t.Errorf("computed %d times, want 1", calls.Load())
			}
			for _, v := range got {
				if v != 5 {
					t.Errorf("value %v, want 5", v)
				}
			}
		}},
		{"keys of different types do not collide", func(t *testing.T, m *Message) {
			a := m.Derived(keyA(1), func() any { return "a" })
			b := m.Derived(keyB(1), func() any { return "b" })
			if a != "a" || b != "b" {
				t.Errorf("got %v and %v", a, b)
			}
		}},
		{"a computation may derive another key", func(t *testing.T, m *Message) {
			v := m.Derived(keyA(2), func() any {
				return m.Derived(keyA(3), func() any { return 3 }).(int) + 1
			})
			if v != 4 || m.Derived(keyA(3), func() any { return 0 }) != 3 {
				t.Errorf("got %v", v)
			}
		}},
		{"a nil value is remembered", func(t *testing.T, m *Message) {
			calls := 0
			for range 3 {
				m.Derived(keyA(4), func() any { calls++; return nil })
			}
			if calls != 1 {
				t.Errorf("computed %d times, want 1", calls)
			}
		}},
		{"a panic leaves nil behind", func(t *testing.T, m *Message) {
			func() {
				defer func() { recover() }()
				m.Derived(keyA(5), func() any { panic("boom") })
			}()
			if v := m.Derived(keyA(5), func() any { return 1 }); v != nil {
				t.Errorf("after a panic: %v, want nil", v)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, &Message{Text: "hello"})
		})
	}
}

func TestDerivedMessagesApart(t *testing.T) {
	m1, m2 := &Message{Text: "one"}, &Message{Text: "three"}
	f := func(m *Message) func() any { return func() any { return m.Text } }
	if m1.Derived(keyA(0), f(m1)) != "one" || m2.Derived(keyA(0), f(m2)) != "three" {
		t.Error("messages share derived values")
	}
}
