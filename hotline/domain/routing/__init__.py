"""Dispatch by responsibility lists (权责清单) and the nearest-duty principle (就近原则), SPEC §5–6.

Pure domain code: no Temporal, no database, no I/O in the scorer. A `Router` is built once from a
`Catalogue`; `route()` ranks the units for a request and says *why* (the entries and words that
matched), `entry_coverage()` and `recommend_return()` give the return reviewer the same evidence.

How a request is scored:
  * the text is normalised and cut by jieba, whose dictionary holds every catalogue word; a
    keyword found strictly inside a longer catalogue word that jieba kept whole is weak evidence
    (医院 inside 南滨医院 names a place, it is not a complaint about a hospital);
  * longer keywords and keywords few units share weigh more (an idf over units);
  * keywords of 4+ characters also match through character bigrams: most of their bigrams
    present (拖欠我工资 for 拖欠工资), or one character off where a bigram anchors them
    (违张建筑 for 违章建筑: homophone typos are substitutions);
  * site-bound entries (`places`) apply only where one of their places is named, and the place
    adds to the rank but never makes a clear owner by itself: that is exactly a nearest duty.

Modules: `tokenizer`, `scoring`, `results`, `router`, `model` (the learnt classifier), `blend` (the two together).
"""
