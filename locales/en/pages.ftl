# The web pages behind the links the service emails (templates/pages/). Each page's title is
# also its heading.

## Passwords (invitation and reset pages)

page-password-label = New password
page-password-rules = At least 10 characters, and hard to guess: a few unrelated words make a good one. Do not use your name, your email address or your clinic's name.
page-password-weak = This password is too short or too easy to guess. Try a longer one, for example a few unrelated words.

## Invitation (/invite?token=…)

page-invite-title = Set your password
page-invite-intro = { $clinic } invited you to Aftercare. Choose a password for your account, { $email }.
page-invite-submit = Create my account
page-invite-done-title = Your account is ready
page-invite-done-patient = Open the Aftercare app on your phone and sign in with { $email } and the password you just chose. Your aftercare reminders and check-ins are there.
page-invite-done-staff = Sign in to the Aftercare staff app with { $email } and the password you just chose.
page-open-staff-app = Open the staff app

## Password reset (/reset-password)

page-reset-request-title = Reset your password
page-reset-request-intro = Enter the email address of your Aftercare account. We will send a link there to choose a new password.
page-email-label = Email address
page-email-invalid = Enter an email address, like name@example.com.
page-reset-request-submit = Send me a link
page-reset-sent-title = Check your email
page-reset-sent-body = If an account uses this address, an email with a reset link is on its way. The link works once, for one hour.
page-reset-sent-spam = Nothing after a few minutes? Look in your spam folder, or ask again.
page-reset-title = Choose a new password
page-reset-intro = Choose a new password for your Aftercare account. Every device signed in to it will be signed out.
page-reset-submit = Save my new password
page-reset-done-title = Your password is changed
page-reset-done-body = Sign in to Aftercare with your new password. Every device that was signed in has been signed out.
page-reset-ask-again = Ask for a new link

## Unsubscribe from reminder emails (/api/v1/unsubscribe?token=…)

page-unsubscribe-title = Stop aftercare reminder emails?
page-unsubscribe-body = You will no longer get reminder emails about your treatment. Your reminders stay in the app, and you can turn the emails back on at any time.
page-unsubscribe-submit = Unsubscribe
page-unsubscribed-title = You are unsubscribed
page-unsubscribed-body = You will not get aftercare reminder emails any more. Your reminders stay in the app.
page-unsubscribed-undo = Changed your mind?
page-resubscribe-submit = Turn reminder emails back on
page-resubscribed-title = Reminder emails are back on
page-resubscribed-body = You will get aftercare reminder emails again.

## Links for the app (/app/…) and for staff (/app/alerts/…)

page-app-title = Open the Aftercare app
page-app-body = This link opens in the Aftercare app on your phone. Open the app to go on; if you do not have it yet, ask your clinic how to get it.
page-alert-title = Sign in to see this alert
page-alert-body = This link is for your clinic's staff. Sign in to the Aftercare staff app to see the alert and resolve it.

## Errors

page-link-invalid-title = This link does not work
page-link-invalid-body = The link is unknown, or it has expired or was already used. Check that you opened the whole link from the email.
page-invitation-invalid-body = Ask your clinic to send you a new invitation.
page-reset-invalid-body = A reset link works once, for one hour. You can ask for a new one.
page-invitation-expired-title = This invitation has expired
page-invitation-expired-body = Invitations work for a limited time. Ask your clinic to send you a new one.
page-invitation-used-title = This invitation was already used
page-invitation-used-body = Your account is ready: sign in with your email address and password. Forgot your password? You can reset it.
page-account-exists-title = You already have an account
page-account-exists-body = An account with this email address already exists. Sign in with it, or reset its password.
page-too-many-title = Too many attempts
page-too-many-body = Please wait a minute, then try again.
page-bad-request-title = Something is missing
page-bad-request-body = The form did not arrive complete. Go back to the link in your email and try again.
page-server-error-title = Something went wrong
page-server-error-body = This is on our side. Please try again in a few minutes; if it keeps happening, contact your clinic.

# /problems: what each problem code of the API means (the `type` of every error answer).
page-problems-title = Error codes
page-problems-intro = Every error the API answers is application/problem+json with a stable code. Each code, its HTTP status and what it means:
page-problem-title = About this error
page-problem-intro = The API answered with the problem code { $code } (HTTP status { $status }). It means:
page-problem-shape = The answer's detail says what was wrong with this request; a 422 also lists each invalid field under errors. Fix the request and send it again, or, for a 5xx, try again later.
page-problem-all = All error codes
page-problem-unknown-title = No such error code
page-problem-unknown-body = The API has no error code by that name.

# The check-in page behind a reminder email's link (no app, no login).
page-checkin-title = How is your skin today?
page-checkin-intro = { $clinic } would like to know how your skin is after your treatment. It takes a minute, and the clinic sees your answers.
page-checkin-redness = Redness of the treated skin
page-checkin-redness-0 = None: it looks as usual
page-checkin-redness-1 = Faint: a light pink flush
page-checkin-redness-2 = Mild: pink, like a mild sunburn
page-checkin-redness-3 = Moderate: clearly red over the whole treated area
page-checkin-redness-4 = Severe: deep red or purple, hot, or spreading
page-checkin-swelling = Swelling
page-checkin-itch = Itching
page-checkin-level-0 = None
page-checkin-level-1 = Mild
page-checkin-level-2 = Moderate
page-checkin-level-3 = Severe
page-checkin-pain = Pain, from 0 (none) to 10 (the worst you can imagine)
page-checkin-pain-none = 0: no pain
page-checkin-pain-worst = 10: the worst you can imagine
page-checkin-flags = Do you have any of these? Tick all that apply.
page-checkin-flag-warmth = The skin feels hot to the touch
page-checkin-flag-pus = Pus, or yellow crusts
page-checkin-flag-fever = Fever or chills
page-checkin-flag-blisters = Blisters
page-checkin-flag-new_bumps = New bumps or spots
page-checkin-flag-dark_patches = Darker patches appearing
page-checkin-submit = Send to my clinic
page-checkin-missing = Please answer each question: redness, swelling, itching and pain.
page-checkin-done-title = Thank you
page-checkin-done-body = { $clinic } has your answers. Keep following your aftercare; you will be reminded of the next check-in.
page-checkin-urgent-title = Call your clinic now
page-checkin-urgent-call = What you describe needs your clinic today. Call { $clinic } now on { $phone }.
page-checkin-urgent-nophone = What you describe needs your clinic today. Call { $clinic } now.
page-checkin-urgent-told = The clinic has been told as well.
page-checkin-emergency = If you have trouble breathing, swelling of the face or lips, or a high fever, call your local emergency number.
page-checkin-call-button = Call { $phone }

# The serum page behind a serum reminder's link.
page-serum-title = Did you apply your serum?
page-serum-intro = { $clinic } asked you to apply your serum now. Once you have, tap the button: it goes into your aftercare log, which your clinic sees.
page-serum-submit = I applied it
page-serum-done-title = Logged
page-serum-done-body = Thank you: your serum application is in your aftercare log.
