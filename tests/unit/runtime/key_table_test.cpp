// Interning of keys and field names: fixed capacity, generations on eviction, stable ranks.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "allocation_counter.hpp"
#include "vigil/runtime/key_table.hpp"

namespace vigil::test {
namespace {

using runtime::FieldTable;
using runtime::KeyId;
using runtime::KeyTable;

TEST_CASE("interning the same key twice returns the same id", "[runtime][keys]") {
  KeyTable keys(8);
  auto a = keys.intern("press-1");
  auto b = keys.intern("press-1");
  REQUIRE(a);
  REQUIRE(b);
  CHECK(*a == *b);
  CHECK(keys.size() == 1);
}

TEST_CASE("different keys get different ids and keep their names", "[runtime][keys]") {
  KeyTable keys(8);
  auto a = keys.intern("press-1");
  auto b = keys.intern("pump-1");
  REQUIRE(a);
  REQUIRE(b);
  CHECK_FALSE(*a == *b);
  CHECK(keys.name(*a) == "press-1");
  CHECK(keys.name(*b) == "pump-1");
  CHECK(keys.live(*a));
  CHECK(keys.size() == 2);
  CHECK(keys.capacity() == 8);
}

TEST_CASE("find looks a key up without interning it", "[runtime][keys]") {
  KeyTable keys(8);
  CHECK_FALSE(keys.find("fan-1"));
  CHECK(keys.size() == 0);
  auto id = keys.intern("fan-1");
  REQUIRE(keys.find("fan-1"));
  CHECK(*keys.find("fan-1") == *id);
}

TEST_CASE("the empty key and a key of the maximum length are keys like any other", "[runtime][keys]") {
  KeyTable keys(4);
  std::string longest(KeyTable::kMaxKeyLength, 'k');
  auto empty = keys.intern("");
  auto max = keys.intern(longest);
  REQUIRE(empty);
  REQUIRE(max);
  CHECK(keys.name(*empty).empty());
  CHECK(keys.live(*empty));
  CHECK(keys.name(*max) == longest);
}

TEST_CASE("a key longer than the maximum length is refused", "[runtime][keys]") {
  KeyTable keys(4);
  CHECK_FALSE(keys.intern(std::string(KeyTable::kMaxKeyLength + 1, 'k')));
  CHECK_FALSE(keys.find(std::string(KeyTable::kMaxKeyLength + 1, 'k')));
  CHECK(keys.size() == 0);
}

TEST_CASE("a full table refuses new keys but still finds the ones it holds", "[runtime][keys]") {
  KeyTable keys(2);
  auto a = keys.intern("a");
  auto b = keys.intern("b");
  REQUIRE(a);
  REQUIRE(b);
  CHECK_FALSE(keys.intern("c"));
  CHECK(keys.size() == 2);
  CHECK(*keys.intern("a") == *a);
  CHECK(keys.name(*b) == "b");
}

TEST_CASE("interning allocates nothing, even when the table is full", "[runtime][keys][alloc]") {
  KeyTable keys(4);
  keys.intern("warm");
  AllocationCounter allocs;
  keys.intern("a");
  keys.intern("b");
  keys.intern("c");
  keys.intern("d");  // refused: full
  keys.intern("a");
  CHECK(allocs.count() == 0);
}

TEST_CASE("evicting a key bumps its generation so the old id is no longer live", "[runtime][keys]") {
  KeyTable keys(4);
  auto old_id = keys.intern("press-1");
  REQUIRE(old_id);
  keys.evict(*old_id);
  CHECK_FALSE(keys.live(*old_id));
  CHECK(keys.name(*old_id).empty());
  CHECK(keys.size() == 0);
  CHECK_FALSE(keys.find("press-1"));
}

TEST_CASE("a key interned again after eviction gets an id that differs from the stale one", "[runtime][keys]") {
  KeyTable keys(1);  // one slot: the new key must reuse it
  auto old_id = keys.intern("press-1");
  REQUIRE(old_id);
  keys.evict(*old_id);
  auto new_id = keys.intern("pump-1");
  REQUIRE(new_id);
  CHECK(new_id->index == old_id->index);
  CHECK(new_id->generation != old_id->generation);
  CHECK_FALSE(keys.live(*old_id));
  CHECK(keys.name(*old_id).empty());  // a queued record with the stale id is not mislabelled
  CHECK(keys.name(*new_id) == "pump-1");
}

TEST_CASE("evicting a stale id leaves the slot's new key alone", "[runtime][keys]") {
  KeyTable keys(1);
  auto old_id = keys.intern("a");
  keys.evict(*old_id);
  auto new_id = keys.intern("b");
  keys.evict(*old_id);
  CHECK(keys.live(*new_id));
  CHECK(keys.size() == 1);
}

TEST_CASE("first_seen ranks count up in order of first sight and are never reused", "[runtime][keys]") {
  KeyTable keys(2);
  auto a = keys.intern("a");
  auto b = keys.intern("b");
  CHECK(keys.first_seen(*a) == 0);
  CHECK(keys.first_seen(*b) == 1);
  CHECK(keys.first_seen(*keys.intern("a")) == 0);  // seeing it again changes nothing
  keys.evict(*a);
  auto c = keys.intern("c");
  CHECK(keys.first_seen(*c) == 2);
  keys.evict(*b);
  auto a_again = keys.intern("a");
  CHECK(keys.first_seen(*a_again) == 3);
}

TEST_CASE("an id outside the table is neither live nor named", "[runtime][keys]") {
  KeyTable keys(2);
  KeyId bogus{99, 0};
  CHECK_FALSE(keys.live(bogus));
  CHECK(keys.name(bogus).empty());
  keys.evict(bogus);  // ignored
  CHECK(keys.size() == 0);
}

TEST_CASE("a long churn of keys through a small table keeps working", "[runtime][keys]") {
  // Every key lives briefly, as with device ids that come and go; the table must neither fill
  // up with leftovers of evicted keys nor lose track of the live ones.
  KeyTable keys(4);
  std::vector<KeyId> live;
  for (int i = 0; i < 5000; ++i) {
    std::string name = "device-" + std::to_string(i);
    if (live.size() == 4) {
      keys.evict(live.front());
      live.erase(live.begin());
    }
    auto id = keys.intern(name);
    REQUIRE(id);
    live.push_back(*id);
  }
  CHECK(keys.size() == 4);
  for (int i = 4996; i < 5000; ++i) {
    auto id = keys.find("device-" + std::to_string(i));
    REQUIRE(id);
    CHECK(keys.name(*id) == "device-" + std::to_string(i));
  }
  CHECK_FALSE(keys.find("device-0"));
  CHECK_FALSE(keys.find("device-4995"));
}

TEST_CASE("random interning and eviction agree with a plain map", "[runtime][keys]") {
  KeyTable keys(16);
  std::map<std::string, KeyId> model;
  std::mt19937 rng(7);
  for (int step = 0; step < 20'000; ++step) {
    std::string name = "k" + std::to_string(rng() % 40);
    if (rng() % 3 == 0) {
      auto it = model.find(name);
      if (it != model.end()) {
        keys.evict(it->second);
        model.erase(it);
      }
    } else {
      auto id = keys.intern(name);
      if (model.count(name)) {
        REQUIRE(id);
        CHECK(*id == model[name]);
      } else if (model.size() < 16) {
        REQUIRE(id);
        model[name] = *id;
      } else {
        CHECK_FALSE(id);
      }
    }
    REQUIRE(keys.size() == model.size());
  }
  for (const auto& [name, id] : model) {
    CHECK(keys.live(id));
    CHECK(keys.name(id) == name);
    REQUIRE(keys.find(name));
    CHECK(*keys.find(name) == id);
  }
}

TEST_CASE("threads interning the same keys agree on their ids", "[runtime][keys]") {
  KeyTable keys(64);
  std::vector<std::vector<KeyId>> seen(4);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < seen.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 200; ++round)
        for (int k = 0; k < 32; ++k) {
          auto id = keys.intern("machine-" + std::to_string(k));
          if (round == 0) seen[t].push_back(id.value_or(KeyId{9999, 0}));
        }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(keys.size() == 32);
  for (std::size_t t = 1; t < seen.size(); ++t) CHECK(seen[t] == seen[0]);
  for (int k = 0; k < 32; ++k) CHECK(keys.name(seen[0][static_cast<std::size_t>(k)]) == "machine-" + std::to_string(k));
}

TEST_CASE("generation() of a slot changes when its key is evicted", "[runtime][keys]") {
  KeyTable keys(2);
  auto id = keys.intern("a");
  CHECK(keys.generation(id->index) == id->generation);
  keys.evict(*id);
  CHECK(keys.generation(id->index) != id->generation);
  CHECK(keys.generation(99) == 0);
}

TEST_CASE("a retired key keeps its id and name while the table has room", "[runtime][keys]") {
  KeyTable keys(3);
  auto a = keys.intern("a");
  keys.retire(*a);
  keys.intern("b");
  keys.intern("c");
  CHECK(keys.live(*a));
  CHECK(keys.name(*a) == "a");
  CHECK(*keys.intern("a") == *a);
}

TEST_CASE("a full table gives a new key the slot of the longest-dormant key", "[runtime][keys]") {
  KeyTable keys(3);
  auto a = keys.intern("a");
  auto b = keys.intern("b");
  auto c = keys.intern("c");
  keys.retire(*b);
  keys.retire(*a);
  auto d = keys.intern("d");
  REQUIRE(d);
  CHECK(d->index == b->index);
  CHECK_FALSE(keys.live(*b));
  CHECK(keys.live(*a));
  auto e = keys.intern("e");
  REQUIRE(e);
  CHECK(e->index == a->index);
  CHECK_FALSE(keys.live(*a));
  CHECK(keys.live(*c));
  CHECK_FALSE(keys.intern("f"));  // nothing dormant any more
  CHECK(keys.first_seen(*e) == 4);
}

TEST_CASE("interning a dormant key wakes it so its slot is no longer given away", "[runtime][keys]") {
  KeyTable keys(2);
  auto a = keys.intern("a");
  keys.intern("b");
  keys.retire(*a);
  CHECK(*keys.intern("a") == *a);
  CHECK_FALSE(keys.intern("c"));
  CHECK(keys.live(*a));
}

TEST_CASE("a key retired again after waking is dormant since its latest retirement", "[runtime][keys]") {
  KeyTable keys(3);
  auto a = keys.intern("a");
  auto b = keys.intern("b");
  keys.intern("c");
  keys.retire(*a);
  keys.retire(*b);
  keys.intern("a");  // wakes a
  keys.retire(*a);   // now b has been dormant longest
  auto d = keys.intern("d");
  REQUIRE(d);
  CHECK(d->index == b->index);
  CHECK(keys.live(*a));
  CHECK_FALSE(keys.live(*b));
}

TEST_CASE("many retire and wake cycles keep the longest-dormant order", "[runtime][keys]") {
  KeyTable keys(2);
  auto a = keys.intern("a");
  auto b = keys.intern("b");
  for (int i = 0; i < 10; ++i) {
    keys.retire(*a);
    keys.intern("a");
  }
  keys.retire(*a);
  keys.retire(*b);
  auto c = keys.intern("c");
  REQUIRE(c);
  CHECK(c->index == a->index);
  auto d = keys.intern("d");
  REQUIRE(d);
  CHECK(d->index == b->index);
  CHECK(keys.size() == 2);
}

TEST_CASE("random retire, wake and new keys agree with a model of dormancy", "[runtime][keys]") {
  // Model: the live names, and the dormant ones in order of their latest retirement.
  constexpr std::size_t kCapacity = 8;
  KeyTable keys(kCapacity);
  std::map<std::string, KeyId> live;
  std::vector<std::string> dormant;  // oldest first
  std::mt19937 rng(11);
  for (int step = 0; step < 20'000; ++step) {
    std::string name = "k" + std::to_string(rng() % 24);
    auto known = live.find(name);
    if (rng() % 2 == 0) {
      if (known == live.end()) continue;
      if (std::find(dormant.begin(), dormant.end(), name) != dormant.end()) continue;
      keys.retire(known->second);
      dormant.push_back(name);
      continue;
    }
    auto id = keys.intern(name);
    if (known != live.end()) {
      REQUIRE(id);
      REQUIRE(*id == known->second);
      dormant.erase(std::remove(dormant.begin(), dormant.end(), name), dormant.end());
    } else if (live.size() < kCapacity) {
      REQUIRE(id);
      live[name] = *id;
    } else if (!dormant.empty()) {
      INFO("step " << step << ": the longest-dormant key is " << dormant.front());
      REQUIRE(id);
      const std::string gone = dormant.front();
      CHECK(id->index == live[gone].index);
      CHECK_FALSE(keys.live(live[gone]));
      live.erase(gone);
      dormant.erase(dormant.begin());
      live[name] = *id;
    } else {
      REQUIRE_FALSE(id);
    }
    REQUIRE(keys.size() == live.size());
  }
}

TEST_CASE("field names get dense ids in order of first sight", "[runtime][fields]") {
  FieldTable fields;
  CHECK(fields.intern("temp") == 0);
  CHECK(fields.intern("vib") == 1);
  CHECK(fields.intern("temp") == 0);
  CHECK(fields.size() == 2);
  CHECK(fields.find("vib") == 1);
  CHECK(fields.find("pressure") == runtime::kNoField);
  CHECK(fields.name(1) == "vib");
  CHECK(fields.name(2).empty());
  CHECK(fields.name(runtime::kNoField).empty());
}

TEST_CASE("a full field table refuses new names and keeps the old ones", "[runtime][fields]") {
  FieldTable fields;
  for (std::size_t i = 0; i < FieldTable::kMaxFields; ++i)
    REQUIRE(fields.intern("f" + std::to_string(i)) == static_cast<runtime::FieldId>(i));
  CHECK(fields.intern("one-too-many") == runtime::kNoField);
  CHECK(fields.size() == FieldTable::kMaxFields);
  CHECK(fields.intern("f7") == 7);
  CHECK(fields.name(0) == "f0");  // views stay valid: the table never reallocates
}

}  // namespace
}  // namespace vigil::test
