# The built-in protocol's reminders (domain::protocol::default_steps), by step key: a title, a
# message and the numbered things to avoid. Used for emails and push notifications whenever a
# clinic's step still has the built-in English text; a clinic's own text is sent as written.
# The English here must equal default_steps() word for word (a test checks it).

step-first_day_care-title = Your first 24 hours
step-first_day_care-message = Use only the hyaluronic-acid serum your clinic gave you and rinse with lukewarm water. Your skin's channels close within about a day.
step-first_day_care-avoid-1 = makeup
step-first_day_care-avoid-2 = sunscreen (until tomorrow morning)
step-first_day_care-avoid-3 = hot water
step-first_day_care-avoid-4 = touching or picking the treated skin

step-ha_serum-title = Time for your HA serum
step-ha_serum-message = Apply your hyaluronic-acid serum to clean skin. Log it in the app so we know it's done.

step-sunscreen-title = Mineral sunscreen this morning
step-sunscreen-message = Apply a mineral sunscreen, SPF 30 or higher, and keep using it every morning for 2 to 4 weeks. Mineral makeup is fine now.
step-sunscreen-avoid-1 = direct sun
step-sunscreen-avoid-2 = tanning beds

step-no_sweating-title = Skip the workout for now
step-no_sweating-message = For the first three days, give your skin a rest from heat and sweat.
step-no_sweating-avoid-1 = intense exercise
step-no_sweating-avoid-2 = sauna
step-no_sweating-avoid-3 = hot tub
step-no_sweating-avoid-4 = swimming

step-avoid_actives-title = Keep your routine gentle this week
step-avoid_actives-message = Use a gentle cleanser, your HA serum and sunscreen only. Active ingredients can irritate healing skin.
step-avoid_actives-avoid-1 = acids (AHA, BHA, salicylic) until day 7
step-avoid_actives-avoid-2 = benzoyl peroxide and hydroquinone until day 7
step-avoid_actives-avoid-3 = scrubs until day 7
step-avoid_actives-avoid-4 = retinoids until day 7 at least (your clinic may say 14)
step-avoid_actives-avoid-5 = vitamin C (L-ascorbic acid) serums until day 7

step-redness_checkin-title = How is your skin today?
step-redness_checkin-message = Take a minute to rate redness, swelling and comfort in the app. It helps your clinician see that you are healing as expected.

step-actives_resume-title = Back to your usual routine
step-actives_resume-message = From today you may slowly bring back your usual products. Keep up the morning sunscreen.
step-actives_resume-avoid-1 = retinoids if your clinic asked you to wait 14 days

step-next_session-title = Your next session is coming up
step-next_session-message = Your next microneedling session is due soon. Book it with your clinic if you have not yet.
