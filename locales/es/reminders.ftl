# Los recordatorios del protocolo incluido, por clave de paso: título, mensaje y lo que hay que
# evitar. Se usan mientras el paso de la clínica conserve el texto inglés incluido.

step-first_day_care-title = Sus primeras 24 horas
step-first_day_care-message = Use solo el sérum de ácido hialurónico que le dio su clínica y aclare la piel con agua tibia. Los microcanales de su piel se cierran en aproximadamente un día.
step-first_day_care-avoid-1 = el maquillaje
step-first_day_care-avoid-2 = el protector solar (hasta mañana por la mañana)
step-first_day_care-avoid-3 = el agua caliente
step-first_day_care-avoid-4 = tocar o rascar la piel tratada

step-ha_serum-title = Es la hora de su sérum de ácido hialurónico
step-ha_serum-message = Aplique su sérum de ácido hialurónico sobre la piel limpia. Regístrelo en la app para que sepamos que lo ha hecho.

step-sunscreen-title = Protector solar mineral esta mañana
step-sunscreen-message = Aplique un protector solar mineral con FPS 30 o superior y siga usándolo todas las mañanas durante 2 a 4 semanas. Ya puede usar maquillaje mineral.
step-sunscreen-avoid-1 = el sol directo
step-sunscreen-avoid-2 = las camas solares (rayos UVA)

step-no_sweating-title = Por ahora, nada de entrenar
step-no_sweating-message = Durante los tres primeros días, dé a su piel un descanso del calor y del sudor.
step-no_sweating-avoid-1 = el ejercicio intenso
step-no_sweating-avoid-2 = la sauna
step-no_sweating-avoid-3 = el jacuzzi
step-no_sweating-avoid-4 = nadar

step-avoid_actives-title = Una rutina suave esta semana
step-avoid_actives-message = Use solo un limpiador suave, su sérum de ácido hialurónico y protector solar. Los ingredientes activos pueden irritar la piel mientras se recupera.
step-avoid_actives-avoid-1 = los ácidos (AHA, BHA, salicílico) hasta el día 7
step-avoid_actives-avoid-2 = el peróxido de benzoilo y la hidroquinona hasta el día 7
step-avoid_actives-avoid-3 = los exfoliantes con gránulos hasta el día 7
step-avoid_actives-avoid-4 = los retinoides al menos hasta el día 7 (su clínica puede indicarle 14)
step-avoid_actives-avoid-5 = los sérums de vitamina C (ácido L-ascórbico) hasta el día 7

step-redness_checkin-title = ¿Cómo está hoy su piel?
step-redness_checkin-message = Dedique un minuto a valorar en la app el enrojecimiento, la hinchazón y las molestias. Así su especialista puede comprobar que se está recuperando como se espera.

step-actives_resume-title = De vuelta a su rutina habitual
step-actives_resume-message = Desde hoy puede volver a usar poco a poco sus productos habituales. Siga aplicando protector solar por la mañana.
step-actives_resume-avoid-1 = los retinoides, si su clínica le pidió esperar 14 días

step-next_session-title = Se acerca su próxima sesión
step-next_session-message = Pronto le corresponde su próxima sesión de microneedling. Si aún no la ha reservado, pida cita con su clínica.
