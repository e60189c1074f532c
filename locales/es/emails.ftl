# Los correos. Cada grupo es una plantilla de templates/<nombre>/.

## reminder (a un paciente)

reminder-please-avoid = Evite:
reminder-open-app = Abrir en la app
reminder-open-app-text = Abrir en la app: { $url }
reminder-when = Este recordatorio de { $clinic } es para el { $time } ({ $zone }), { $day_label }.
reminder-day =
    { $day ->
        [0] el día de su tratamiento
        [1] el día siguiente a su tratamiento
       *[other] el día { $day } después de su tratamiento
    }
reminder-questions-reply = ¿Dudas o preocupaciones? Responda a este correo o llame a su clínica.
reminder-questions-call = ¿Dudas o preocupaciones? Llame a su clínica.

## checkin_nudge (a un paciente que no ha enviado sus registros)

nudge-subject = No hemos sabido de usted: ¿cómo está su piel?
nudge-title = ¿Cómo está su piel?
nudge-body = No hemos recibido sus dos últimos registros de seguimiento. Unos datos rápidos sobre el enrojecimiento y las molestias ayudan a { $clinic } a comprobar que su piel se está recuperando como se espera.
nudge-button = Enviar mi registro
nudge-button-text = Enviar mi registro: { $url }
nudge-worry = Si algo le preocupa (calor en la zona, pus, fiebre, ampollas), contacte ahora con su clínica.

## patient_invitation (a un paciente nuevo)

patient-invitation-subject = { $clinic } le invita a la app Aftercare
patient-invitation-title = Su invitación a Aftercare
patient-invitation-intro = { $clinic } utiliza la app Aftercare para acompañarle durante su tratamiento: recordatorios de sus cuidados posteriores, registros rápidos de cómo se recupera su piel y sus fotos de evolución.
patient-invitation-button = Crear su cuenta
patient-invitation-link-text = Cree su cuenta aquí:
patient-invitation-code = Si la app le pide un código, use:
patient-invitation-expiry = Este enlace solo puede usarse una vez y caduca el { $expires }.

## invitation (a un nuevo miembro del equipo)

invitation-subject = Invitación a { $clinic } en Aftercare
invitation-title = Su invitación
invitation-intro =
    { $role ->
        [admin] { $clinic } le ha invitado a unirse a Aftercare como administrador.
       *[other] { $clinic } le ha invitado a unirse a Aftercare como profesional clínico.
    }
invitation-button = Elegir su contraseña
invitation-link-text = Elija su contraseña aquí:
invitation-code = Si su app le pide un código, use:
invitation-expiry = Esta invitación solo puede usarse una vez y caduca el { $expires }.
invitation-signature = Aftercare para { $clinic }

## existing_account (a una dirección que ya tiene cuenta, en lugar de una invitación)

existing-account-subject = { $clinic } ha intentado invitarle a Aftercare
existing-account-title = Una invitación para una cuenta que ya existe
existing-account-body = Alguien de { $clinic } ha intentado invitar a esta dirección de correo a Aftercare. Usted ya tiene una cuenta de Aftercare con esta dirección, así que no se ha creado ninguna cuenta nueva y no hay nada que aceptar.
existing-account-contact = Si esperaba esta invitación, póngase en contacto directamente con { $clinic }: puede que necesiten usar otra dirección de correo para usted.

## urgent_alert (al equipo)

alert-subject = Urgente: un paciente necesita revisión ({ $reason })
alert-title = Alerta urgente
alert-intro = Un registro de seguimiento requiere la atención de un profesional clínico en { $clinic }.
alert-reason = Motivo:
alert-button = Abrir la alerta
alert-sign-in = Los datos del paciente solo se muestran después de iniciar sesión.
alert-link-text = Abrir la alerta (los datos del paciente solo se muestran después de iniciar sesión):

## password_reset

reset-subject = Restablezca su contraseña de Aftercare
reset-title = Restablezca su contraseña
reset-intro = Alguien ha pedido restablecer la contraseña de su cuenta de Aftercare en { $clinic }.
reset-button = Elegir una contraseña nueva
reset-link-text = Elija una contraseña nueva aquí:
reset-code = Si la aplicación le pide un código, use:
reset-expiry = Este enlace solo se puede usar una vez y caduca el { $expires } (en una hora). Al elegir una contraseña nueva se cerrará la sesión en todos sus dispositivos.
reset-not-you = Si no lo ha pedido usted, puede ignorar este mensaje: su contraseña no cambia.

## password_changed

changed-subject = Se ha cambiado su contraseña de Aftercare
changed-title = Se ha cambiado su contraseña
changed-intro = La contraseña de su cuenta de Aftercare en { $clinic } se cambió el { $at }.
changed-how =
    { $by_reset ->
        [yes] Se estableció con un enlace de restablecimiento enviado a esta dirección.
       *[no] Se cambió desde una aplicación o un navegador con la sesión iniciada.
    }
changed-signed-out = Se ha cerrado la sesión en todos los dispositivos.
changed-was-you = Si fue usted, no tiene que hacer nada más.
changed-not-you = Si no fue usted, elija una contraseña nueva ahora y avise a { $clinic } para que revisen su cuenta.
changed-button = Restablecer mi contraseña
changed-link-text = Restablezca su contraseña aquí:

## account_deleted

deleted-subject = Se ha eliminado su cuenta de Aftercare
deleted-title = Se ha eliminado su cuenta
deleted-intro = Tal como pidió, su cuenta de Aftercare en { $clinic } se eliminó el { $at }, con todo lo que contenía: su historial de tratamiento, registros, fotos, puntuaciones, recordatorios y consentimientos. No recibirá más recordatorios de Aftercare.
deleted-final = Esto no se puede deshacer. Si quiere volver a usar Aftercare, pida a { $clinic } que le invite.
deleted-not-you = Si no lo ha pedido usted, póngase en contacto con { $clinic } de inmediato.
