# Las páginas web detrás de los enlaces que envía el servicio (templates/pages/). El título de
# cada página es también su encabezado.

## Contraseñas (páginas de invitación y de restablecimiento)

page-password-label = Nueva contraseña
page-password-rules = Al menos 10 caracteres y difícil de adivinar: unas cuantas palabras sin relación entre sí funcionan bien. No use su nombre, su dirección de correo ni el nombre de su clínica.
page-password-weak = Esta contraseña es demasiado corta o fácil de adivinar. Pruebe con una más larga, por ejemplo unas cuantas palabras sin relación entre sí.

## Invitación (/invite?token=…)

page-invite-title = Elija su contraseña
page-invite-intro = { $clinic } le ha invitado a Aftercare. Elija una contraseña para su cuenta, { $email }.
page-invite-submit = Crear mi cuenta
page-invite-done-title = Su cuenta está lista
page-invite-done-patient = Abra la aplicación Aftercare en su teléfono e inicie sesión con { $email } y la contraseña que acaba de elegir. Allí tiene sus recordatorios de cuidados y sus controles.
page-invite-done-staff = Inicie sesión en la aplicación del personal de Aftercare con { $email } y la contraseña que acaba de elegir.
page-open-staff-app = Abrir la aplicación del personal

## Restablecer la contraseña (/reset-password)

page-reset-request-title = Restablezca su contraseña
page-reset-request-intro = Escriba la dirección de correo de su cuenta de Aftercare. Le enviaremos allí un enlace para elegir una contraseña nueva.
page-email-label = Dirección de correo
page-email-invalid = Escriba una dirección de correo, como nombre@ejemplo.com.
page-reset-request-submit = Enviarme un enlace
page-reset-sent-title = Revise su correo
page-reset-sent-body = Si alguna cuenta usa esta dirección, le llegará un correo con un enlace para restablecer la contraseña. El enlace funciona una vez, durante una hora.
page-reset-sent-spam = ¿No llega nada en unos minutos? Mire en la carpeta de correo no deseado o vuelva a pedirlo.
page-reset-title = Elija una contraseña nueva
page-reset-intro = Elija una contraseña nueva para su cuenta de Aftercare. Se cerrará la sesión en todos los dispositivos conectados a ella.
page-reset-submit = Guardar mi contraseña nueva
page-reset-done-title = Su contraseña ha cambiado
page-reset-done-body = Inicie sesión en Aftercare con su contraseña nueva. Se ha cerrado la sesión en todos los dispositivos conectados.
page-reset-ask-again = Pedir un enlace nuevo

## Dejar de recibir recordatorios por correo (/api/v1/unsubscribe?token=…)

page-unsubscribe-title = ¿Dejar de recibir recordatorios de cuidados por correo?
page-unsubscribe-body = Ya no recibirá correos con recordatorios sobre su tratamiento. Sus recordatorios siguen en la aplicación, y puede volver a activar los correos cuando quiera.
page-unsubscribe-submit = Darme de baja
page-unsubscribed-title = Se ha dado de baja
page-unsubscribed-body = Ya no recibirá correos con recordatorios de cuidados. Sus recordatorios siguen en la aplicación.
page-unsubscribed-undo = ¿Ha cambiado de opinión?
page-resubscribe-submit = Volver a recibir los recordatorios por correo
page-resubscribed-title = Los recordatorios por correo vuelven a estar activados
page-resubscribed-body = Volverá a recibir correos con recordatorios de cuidados.

## Enlaces para la aplicación (/app/…) y para el personal (/app/alerts/…)

page-app-title = Abra la aplicación Aftercare
page-app-body = Este enlace se abre en la aplicación Aftercare de su teléfono. Abra la aplicación para continuar; si aún no la tiene, pregunte a su clínica cómo conseguirla.
page-alert-title = Inicie sesión para ver esta alerta
page-alert-body = Este enlace es para el personal de su clínica. Inicie sesión en la aplicación del personal de Aftercare para ver la alerta y resolverla.

## Errores

page-link-invalid-title = Este enlace no funciona
page-link-invalid-body = El enlace no se reconoce, ha caducado o ya se usó. Compruebe que ha abierto el enlace completo del correo.
page-invitation-invalid-body = Pida a su clínica que le envíe una invitación nueva.
page-reset-invalid-body = Un enlace de restablecimiento funciona una vez, durante una hora. Puede pedir uno nuevo.
page-invitation-expired-title = Esta invitación ha caducado
page-invitation-expired-body = Las invitaciones funcionan durante un tiempo limitado. Pida a su clínica que le envíe una nueva.
page-invitation-used-title = Esta invitación ya se usó
page-invitation-used-body = Su cuenta está lista: inicie sesión con su dirección de correo y su contraseña. ¿Ha olvidado la contraseña? Puede restablecerla.
page-account-exists-title = Ya tiene una cuenta
page-account-exists-body = Ya existe una cuenta con esta dirección de correo. Inicie sesión con ella o restablezca su contraseña.
page-too-many-title = Demasiados intentos
page-too-many-body = Espere un minuto y vuelva a intentarlo.
page-bad-request-title = Falta algo
page-bad-request-body = El formulario no llegó completo. Vuelva al enlace de su correo e inténtelo de nuevo.
page-server-error-title = Algo ha fallado
page-server-error-body = El problema es nuestro. Vuelva a intentarlo en unos minutos; si sigue pasando, contacte con su clínica.

# /problems: what each problem code of the API means (the `type` of every error answer).
page-problems-title = Códigos de error
page-problems-intro = Cada error que responde la API es application/problem+json con un código estable. Cada código, su estado HTTP y su significado:
page-problem-title = Acerca de este error
page-problem-intro = La API respondió con el código de problema { $code } (estado HTTP { $status }). Significa:
page-problem-shape = El campo detail de la respuesta dice qué falló en esta petición; un 422 también enumera cada campo no válido en errors. Corrija la petición y envíela de nuevo o, si es un 5xx, inténtelo más tarde.
page-problem-all = Todos los códigos de error
page-problem-unknown-title = Ese código de error no existe
page-problem-unknown-body = La API no tiene ningún código de error con ese nombre.

# The check-in page behind a reminder email's link (no app, no login).
page-checkin-title = ¿Cómo está su piel hoy?
page-checkin-intro = { $clinic } quiere saber cómo está su piel después del tratamiento. Solo lleva un minuto, y la clínica verá sus respuestas.
page-checkin-redness = Enrojecimiento de la piel tratada
page-checkin-redness-0 = Ninguno: se ve como siempre
page-checkin-redness-1 = Leve: un rubor rosado suave
page-checkin-redness-2 = Ligero: rosada, como una quemadura solar leve
page-checkin-redness-3 = Moderado: claramente roja en toda la zona tratada
page-checkin-redness-4 = Intenso: rojo oscuro o morado, caliente o extendiéndose
page-checkin-swelling = Hinchazón
page-checkin-itch = Picor
page-checkin-level-0 = Nada
page-checkin-level-1 = Leve
page-checkin-level-2 = Moderado
page-checkin-level-3 = Intenso
page-checkin-pain = Dolor, de 0 (nada) a 10 (el peor que pueda imaginar)
page-checkin-pain-none = 0: sin dolor
page-checkin-pain-worst = 10: el peor que pueda imaginar
page-checkin-flags = ¿Tiene alguno de estos síntomas? Marque todos los que correspondan.
page-checkin-flag-warmth = La piel está caliente al tacto
page-checkin-flag-pus = Pus o costras amarillas
page-checkin-flag-fever = Fiebre o escalofríos
page-checkin-flag-blisters = Ampollas
page-checkin-flag-new_bumps = Granos o bultos nuevos
page-checkin-flag-dark_patches = Aparecen manchas más oscuras
page-checkin-submit = Enviar a mi clínica
page-checkin-missing = Responda a cada pregunta: enrojecimiento, hinchazón, picor y dolor.
page-checkin-done-title = Gracias
page-checkin-done-body = { $clinic } ya tiene sus respuestas. Siga con sus cuidados posteriores; le recordaremos el próximo control.
page-checkin-urgent-title = Llame a su clínica ahora
page-checkin-urgent-call = Lo que describe requiere atención de su clínica hoy. Llame ahora a { $clinic } al { $phone }.
page-checkin-urgent-nophone = Lo que describe requiere atención de su clínica hoy. Llame ahora a { $clinic }.
page-checkin-urgent-told = La clínica también ha sido avisada.
page-checkin-emergency = Si le cuesta respirar, se le hinchan la cara o los labios, o tiene fiebre alta, llame al número de emergencias de su zona.
page-checkin-call-button = Llamar al { $phone }

# The serum page behind a serum reminder's link.
page-serum-title = ¿Se ha aplicado el sérum?
page-serum-intro = { $clinic } le pidió que se aplicara el sérum ahora. Cuando lo haya hecho, pulse el botón: quedará en su registro de cuidados, que su clínica ve.
page-serum-submit = Ya me lo he aplicado
page-serum-done-title = Registrado
page-serum-done-body = Gracias: la aplicación del sérum está en su registro de cuidados.
