#include "common/utf8.h"

#include <gtest/gtest.h>

namespace lf::utf8 {
namespace {

TEST(Utf8Test, FindInvalidPointsAtTheFirstBadByte) {
  EXPECT_EQ(FindInvalid("plain ascii, caf\xC3\xA9, \xE4\xB8\xAD, \xF0\x9F\x98\x80"), std::string_view::npos);
  EXPECT_EQ(FindInvalid(""), std::string_view::npos);
  EXPECT_EQ(FindInvalid("ab\xFF"), 2u);                     // can start no sequence
  EXPECT_EQ(FindInvalid("abcdefghij\x80"), 10u);            // lone continuation, after the fast path
  EXPECT_EQ(FindInvalid("x\xC0\xAF"), 1u);                  // overlong
  EXPECT_EQ(FindInvalid("x\xED\xA0\x80"), 1u);              // UTF-16 surrogate
  EXPECT_EQ(FindInvalid("x\xF4\x90\x80\x80"), 1u);          // past U+10FFFF
  EXPECT_EQ(FindInvalid("trunc\xE2\x82"), 5u);              // truncated at the end
  EXPECT_TRUE(IsValid("\xF4\x8F\xBF\xBF"));                 // U+10FFFF itself
  EXPECT_FALSE(IsValid("\xE2\x82"));
}

TEST(Utf8Test, ReplaceInvalidFollowsPython) {
  // bytes.decode("utf-8", errors="replace"): one U+FFFD per maximal ill-formed subpart.
  EXPECT_EQ(ReplaceInvalid("a\xE2\x82z"), "a\xEF\xBF\xBDz");
  EXPECT_EQ(ReplaceInvalid("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(ReplaceInvalid("ok"), "ok");
}

}  // namespace
}  // namespace lf::utf8
