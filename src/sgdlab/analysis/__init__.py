"""Analyses beyond training: the likelihood and its gradient (exercise 5, :mod:`.likelihood`),
minibatch estimators (:mod:`.estimators`), the L2-regularised optimum (:mod:`.optimum`) and a
2-D non-convex landscape (:mod:`.landscape`)."""
